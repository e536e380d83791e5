"""Failures on a real PostgreSQL server, through the real `stylelens` process: PostgreSQL's own limits (INTEGER is
32-bit, VARCHAR(200) is enforced) are refused before the database sees them, and a server stopped mid-run is one
line that says so; the next run after a restart completes a consistent workspace."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_consistent
from pg_server import throwaway_server
from tiny_workspace import build_workspace, fingerprint, write_images

from indexer.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
# runs `stylelens ARGS...`; with a stop command (JSON), the server is stopped as the first batch is embedded
PROBE = """
import json, subprocess, sys
import indexer.pipeline.run as run
from ui.cli import main
stop, real = json.loads(sys.argv[1]), run.embed_prepared
def stop_then_embed(*args, **kwargs):
    if stop:
        subprocess.run(stop, check=True, capture_output=True)
        stop.clear()
    return real(*args, **kwargs)
run.embed_prepared = stop_then_embed
sys.exit(main(sys.argv[2:]))
"""


def stylelens(*args: str, stop: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", PROBE, json.dumps(stop or []), *args], capture_output=True,
                          text=True, env=env, timeout=300)


def one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("stylelens: error: ") and len(done.stderr.splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def pg_workspace(tmp_path_factory):
    with throwaway_server(port_offset=7) as server:
        root = tmp_path_factory.mktemp("pg-errors")
        build_workspace(root / "ws", write_images(root / "imgs"), db_url=server.url)
        yield root / "ws", root / "imgs", server.url


@pytest.mark.parametrize("args, expected", [
    (["search", "--like", "2147483648"], "catalog id must be at most 2,147,483,647"),
    (["collection", "add", "c1", "--ids", "2147483648"], "catalog id must be at most 2,147,483,647"),
    (["collection", "create", "x" * 300], "the collection name is 300 characters long"),
    (["index", "IMAGES", "--corpus", "x" * 300], "the corpus name is 300 characters long"),
], ids=["--like past int32", "--ids past int32", "collection name", "corpus name"])
def test_postgresql_limits_are_refused_before_the_database(pg_workspace, args: list[str], expected: str) -> None:
    home, images, url = pg_workspace
    before = fingerprint(home, url)
    argv = [str(images) if a == "IMAGES" else a for a in args]
    assert expected in one_line(stylelens(*argv, "--workspace", str(home), "--db-url", url))
    assert fingerprint(home, url) == before


def test_server_stopped_mid_run_is_one_line_and_the_next_run_completes(tmp_path: Path) -> None:
    with throwaway_server(port_offset=13) as server:
        home, common = tmp_path / "ws", ["--workspace", str(tmp_path / "ws"), "--db-url", server.url]
        build_workspace(home, write_images(tmp_path / "imgs"), db_url=server.url)
        more = write_images(tmp_path / "more", n=4, seed=9)
        index_more = ["index", str(more), "--corpus", "c", "--workers", "0", *common]
        err = one_line(stylelens(*index_more, stop=server.stop_command()))
        assert "lost the connection to the catalog database" in err and "check that the database server" in err
        err = one_line(stylelens("status", *common))  # a new command while it is down
        assert "cannot open the catalog database at postgresql+psycopg://" in err
        server.restart()
        done = stylelens(*index_more)
        assert done.returncode == 0, done.stderr
        ws = Workspace.open(home, server.url)
        try:
            assert len(assert_consistent(ws)) == 9
        finally:
            ws.close()
        assert [p for p in (home / "indexes").iterdir() if ".tmp" in p.name] == []
