"""A read-only workspace (--read-only, a folder this process cannot write, read-only media) serves search, status
and export to another folder, writes nothing into the workspace, and refuses writing commands in one line."""
from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from blend_stylizer import BLEND, register_blend
from tiny_workspace import build_workspace, fingerprint, write_images

from indexer.workspace import Workspace, WorkspaceError
from retrieval.collections import create_collection
from ui.cli import main

WRITING = [  # commands that write to the workspace, each refused up front on a read-only one
    ["index", "IMAGES", "--corpus", "c"],
    ["collection", "create", "new"],
    ["collection", "add", "c1", "--ids", "3"],
    ["collection", "remove", "c1", "--ids", "1"],
    ["collection", "tag", "c1", "1", "--add", "t"],
    ["search", "--like", "1", "--add-to", "c1"],
    ["mine-triplets", "--train", "c", "--style-db", "c", "--content-db", "c", "--run", "r1"],
    ["space", "add", "style2", "--encoder", "tiny/aladin"],
    ["space", "backfill", "style"],
    ["stylize", "--method", BLEND, "--content", "1", "--style", "2", "--out", "OUT"],
]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, list[int]]:
    root = tmp_path_factory.mktemp("readonly")
    images = write_images(root / "imgs")
    ids = build_workspace(root / "ws", images)
    register_blend()
    _checkpoint(root / "ws")
    return root / "ws", images, ids


def _checkpoint(home: Path) -> None:
    """Fold the WAL into the catalog file, as a clean shutdown would (a workspace copied to read-only media)."""
    conn = sqlite3.connect(home / "catalog.sqlite")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _reads_work(capsys, home: Path, ids: list[int], out: Path, *flags: str) -> None:
    code, hits, err = _run(capsys, "search", "--like", str(ids[0]), "-k", "2", "--json", "--workspace", str(home), *flags)
    assert code == 0 and f'"id": {ids[0]}' in hits, err
    code, status, err = _run(capsys, "status", "--workspace", str(home), *flags)
    assert code == 0 and "corpus c" in status and "(read-only)" in status.splitlines()[0], err
    code, _, err = _run(capsys, "export", "c1", str(out), "--format", "folder", "--workspace", str(home), *flags)
    assert code == 0 and len([p for p in out.rglob("*") if p.is_file()]) >= 2, err


def test_read_only_flag_serves_search_status_and_export(built, tmp_path: Path, capsys) -> None:
    home, _images, ids = built
    before = fingerprint(home)
    _reads_work(capsys, home, ids, tmp_path / "export", "--read-only")
    assert fingerprint(home) == before


@pytest.mark.parametrize("args", WRITING, ids=[" ".join(a[:2]) for a in WRITING])
def test_writing_commands_refuse_a_read_only_workspace_in_one_line(built, tmp_path: Path, capsys,
                                                                   args: list[str]) -> None:
    home, images, _ids = built
    out = tmp_path / "out"
    argv = [str(out) if a == "OUT" else str(images) if a == "IMAGES" else a for a in args]
    before = fingerprint(home)
    code, _, err = _run(capsys, *argv, "--workspace", str(home), "--read-only")
    assert code == 1 and err.startswith("stylelens: error: ") and len(err.strip().splitlines()) == 1, err
    assert "is read-only" in err and "Traceback" not in err
    assert fingerprint(home) == before and not out.exists()


def test_library_writes_on_a_read_only_workspace_are_refused(built) -> None:
    ws = Workspace.open(built[0], read_only=True)
    try:
        assert ws.read_only
        with pytest.raises(WorkspaceError, match="is read-only"):
            create_collection(ws, "from-the-library")
        with pytest.raises(WorkspaceError, match="is read-only"):
            ws.set_setting("k", "v")
        assert ws.get_setting("profile") == "tiny"
    finally:
        ws.close()


def test_an_unwritable_folder_opens_read_only(built, monkeypatch) -> None:
    """What chmod -R a-w does for a user who is not root (root ignores permission bits, so the test cannot
    make a real unwritable folder for itself; os.access is what Workspace.open asks, so it stands in)."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if mode & os.W_OK else real_access(path, mode))
    ws = Workspace.open(built[0])
    try:
        assert ws.read_only and ws.get_setting("profile") == "tiny"
        assert "immutable=1" in str(ws.engine.url)  # no -wal/-shm needed beside the catalog
    finally:
        ws.close()


def test_read_only_media_serve_reads_and_refuse_writes(built, tmp_path: Path, capsys) -> None:
    """A real read-only mount of the workspace (EROFS even for root), no --read-only flag."""
    home, images, ids = built
    mnt = tmp_path / "media"
    mnt.mkdir()
    bind = subprocess.run(["mount", "--bind", str(home), str(mnt)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({bind.stderr.strip()}); --read-only and the os.access test cover it")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(mnt)], capture_output=True, text=True)
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only here ({ro.stderr.strip()})")
        listing = sorted(p.name for p in mnt.rglob("*"))
        _reads_work(capsys, mnt, ids, tmp_path / "export")
        code, _, err = _run(capsys, "index", str(images), "--corpus", "c", "--workspace", str(mnt))
        assert code == 1 and len(err.strip().splitlines()) == 1 and "is read-only" in err, err
        assert sorted(p.name for p in mnt.rglob("*")) == listing
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_read_only_catalog_older_than_the_code_is_refused_with_what_to_do(built, tmp_path: Path, capsys) -> None:
    home = tmp_path / "old"
    subprocess.run(["cp", "-a", str(built[0]), str(home)], check=True)
    conn = sqlite3.connect(home / "catalog.sqlite")
    conn.execute("UPDATE alembic_version SET version_num = '0002'")
    conn.commit()
    conn.close()
    code, _, err = _run(capsys, "status", "--workspace", str(home), "--read-only")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "older than this StyleLens needs" in err and "without --read-only" in err


def test_a_missing_read_only_workspace_is_not_created(tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, "status", "--workspace", str(tmp_path / "nothing"), "--read-only")
    assert code == 1 and "no workspace at" in err and not (tmp_path / "nothing").exists()
