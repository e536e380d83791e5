"""Hostile arguments, command by command: each is refused with exit 1 and exactly one `stylelens: error:` line
that names the limit, no traceback, and the workspace left as it was (catalog rows and files), and no
output file written. The limits themselves are in indexer.limits (unit tests: test_limits.py)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from blend_stylizer import BLEND, register_blend
from tiny_workspace import build_workspace, fingerprint, write_images

from ui.cli import main

BIG = str(2**70)  # past int64: OverflowError in the SQLite driver, "out of range" on PostgreSQL
PAST_INT32 = str(2**31)  # fits SQLite's INTEGER, not PostgreSQL's
LONG_NAME = "x" * 300  # past the catalog's VARCHAR(200): SQLite would keep it, PostgreSQL refuses it
MINE = ["mine-triplets", "--train", "c", "--style-db", "c", "--content-db", "c"]
STRIP = ["interpolate", "--retrieve", "--style", "1", "--style", "2"]

CASES = [  # (arguments, text the one line must contain); OUT and IMAGES are filled in per test
    (["search", "--like", BIG], "catalog id must be at most 2,147,483,647"),
    (["search", "--like", PAST_INT32], "catalog id must be at most 2,147,483,647"),
    (["search", "--like", "0"], "catalog id must be at least 1"),
    (["search", f"id:{BIG}"], "catalog id must be at most"),
    (["search", "--like", "1", "-k", "100000000"], "k must be at most 10,000"),
    (["search", "--like", "1", "-k", "5000000000"], "k must be at most 10,000"),
    (["search", "--like", "1", "--offset", "-1"], "offset must be at least 0"),
    (["search", "--like", "1", "--offset", "9995", "-k", "10"], "offset + k must be at most 10,000"),
    (["search", "--like", "1", "--collapse-threshold", "nan"], "collapse threshold"),
    (["search", "--like", "1", "--collapse-threshold", "inf"], "collapse threshold"),
    (["search", "--like", "1", "--collapse-threshold", "1.5"], "collapse threshold"),
    (["search", " + ".join(["a red bird"] * 2500)], "at most 64 terms"),
    (["search", "--content", "id:1", "--style", "id:2", "--alpha", "nan"], "--alpha must be a finite number"),
    (["search", "--content", "id:1", "--style", "id:2", "-k", "100000000"], "k must be at most"),
    (["collection", "create", LONG_NAME], "the collection name is 300 characters long"),
    (["collection", "add", "c1", "--ids", BIG], "catalog id must be at most"),
    (["collection", "add", "c1", "--ids", PAST_INT32], "catalog id must be at most"),
    (["collection", "add", "c1", "--near", BIG], "exemplar id must be at most"),
    (["collection", "add", "c1", "--near", "1", "--cap", "1000000000"], "the cap must be at most 10,000"),
    (["collection", "add", "c1", "--near", "1", "--max-distance", "nan"], "maximum distance"),
    (["collection", "remove", "c1", "--ids", BIG], "catalog id must be at most"),
    (["collection", "tag", "c1", BIG, "--add", "t"], "catalog id must be at most"),
    (["index", "IMAGES", "--corpus", LONG_NAME], "the corpus name is 300 characters long"),
    (["index", "IMAGES", "--corpus", "c", "--workers", "100000"], "--workers must be at most 256"),
    (["index", "IMAGES", "--corpus", "c", "--batch-size", "0"], "batch size must be at least 1"),
    (["index", "IMAGES", "--corpus", "c", "--engine", "ray", "--ray-concurrency", "0"], "--ray-concurrency must be 1..1024"),
    (["index", "IMAGES", "--corpus", "c", "--engine", "ray", "--ray-num-gpus", "nan"], "--ray-num-gpus must be 0..64"),
    ([*MINE, "-k", "100000000"], "k must be at most 10,000"),
    ([*MINE, "--run", LONG_NAME], "a mining run name must be 1-128 letters"),
    (["stylize", "--method", BLEND, "--content", "1", "--style", "2", "--out", "OUT", "--seed", BIG],
     "seed must be at most"),
    (["stylize", "--method", BLEND, "--content", BIG, "--style", "2", "--out", "OUT"], "catalog id must be at most"),
    (["stylize", "--method", BLEND, "--content", "1", "--style", f"id:{BIG}", "--out", "OUT"], "catalog id"),
    (["interpolate", "--method", BLEND, "--content", "1", "--style", "1", "--style", "2", "--out", "OUT",
      "--seed", BIG], "seed must be at most"),
    ([*STRIP, "-k", "100000000"], "k must be at most 10,000"),
    ([*STRIP, "--steps", "1000000000"], "steps must be at most 256"),
    (["regenerate", BIG, "--out", "OUT"], "generation record id must be at most"),
    (["status", "--db-url", "postgres://user@localhost/stylelens"], "write postgresql+psycopg://"),
    (["status", "--db-url", "foo://user@localhost/x"], "unknown database 'foo'"),
    (["status", "--db-url", "::not a url::"], "cannot read the catalog URL"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hostile")
    images = write_images(root / "imgs")
    build_workspace(root / "ws", images)
    register_blend()
    return root / "ws", images


@pytest.mark.parametrize("args, expected", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_hostile_argument_is_one_line_and_changes_nothing(built, tmp_path: Path, capsys, args: list[str],
                                                         expected: str) -> None:
    home, images = built
    out = tmp_path / "out"
    argv = [str(out) if a == "OUT" else str(images) if a == "IMAGES" else a for a in args]
    before = fingerprint(home)
    capsys.readouterr()
    code = main([*argv, "--workspace", str(home)])
    err = capsys.readouterr().err
    assert code == 1, (args, err)
    assert err.startswith("stylelens: error: ") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and expected in err, err
    assert fingerprint(home) == before
    assert not out.exists() or not any(out.iterdir()), "an output file was written before the command failed"


def test_a_missing_database_driver_is_named(built, capsys) -> None:
    if importlib.util.find_spec("pg8000") is not None:
        pytest.skip("pg8000 is installed here: its URL would connect rather than fail")
    code = main(["status", "--db-url", "postgresql+pg8000://u@localhost/x", "--workspace", str(built[0])])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "driver for 'postgresql+pg8000' is not installed" in err and "postgresql+psycopg://" in err
