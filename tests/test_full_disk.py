"""A real full filesystem: a workspace on a small tmpfs filled to the last byte. A command that writes to the
catalog fails with one line that says the disk is full, leaves every catalog row as it was, and succeeds once
space is freed. Needs permission to mount a tmpfs (root); skipped otherwise, with the reason (the injected
ENOSPC test in test_cli_errors.py covers the index-file write everywhere)."""
from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from tiny_workspace import build_workspace, fingerprint, write_images

from ui.cli import main


@pytest.fixture
def small_fs(tmp_path: Path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(directory: Path) -> Path:
    """Write zeros into one file until the filesystem has no byte left."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(chunk[:size])
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_is_one_line_and_the_catalog_is_unchanged(small_fs: Path, tmp_path: Path, capsys) -> None:
    home = small_fs / "ws"
    build_workspace(home, write_images(tmp_path / "imgs"))
    conn = sqlite3.connect(home / "catalog.sqlite")  # an empty WAL: the next write must take new blocks
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = fingerprint(home)
    filler = _fill(small_fs)
    capsys.readouterr()
    code = main(["collection", "create", "x" * 150, "--description", "d" * 20000, "--workspace", str(home)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("stylelens: error: ") and len(err.splitlines()) == 1, err
    assert "full" in err and "free some space" in err and "Traceback" not in err
    os.unlink(filler)
    assert fingerprint(home) == before
    assert main(["collection", "create", "x" * 150, "--workspace", str(home)]) == 0
