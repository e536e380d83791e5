"""The atomic-write helper: all or nothing, nothing left behind, the file's mode kept."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer.atomic import atomic_file, atomic_write_bytes


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk gone"):
        with atomic_file(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("disk gone")
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["data.bin"]


def test_a_write_replaces_the_file_keeping_its_mode_and_a_new_file_gets_0644(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write_bytes(target, b"new", suffix=".x.tmp")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o640
    atomic_write_bytes(tmp_path / "fresh.bin", b"1")
    assert (tmp_path / "fresh.bin").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert sorted(os.listdir(tmp_path)) == ["data.bin", "fresh.bin"]
