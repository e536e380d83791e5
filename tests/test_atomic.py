"""The atomic-write helper: all or nothing, nothing left behind, the file's mode kept."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer.atomic import (
    atomic_dir,
    atomic_file,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    remove_stale_temporaries,
)


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


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What each os.fsync call synced: "file NAME" or "dir NAME"."""
    import stat

    calls: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        st = os.fstat(fd)
        kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
        calls.append(f"{kind} {os.path.basename(os.readlink(f'/proc/self/fd/{fd}'))}")
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return calls


def test_a_path_writer_works_on_a_temporary_beside_the_target_until_it_is_done(tmp_path: Path,
                                                                              fsyncs: list[str]) -> None:
    from PIL import Image

    target = tmp_path / "picture.png"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".picture.png.") and tmp.name.endswith(".tmp")
        Image.new("RGB", (4, 3), "red").save(tmp, format="PNG")
        assert target.read_bytes() == b"old"  # nothing is visible before the block ends
    assert Image.open(target).size == (4, 3) and sorted(os.listdir(tmp_path)) == ["picture.png"]
    assert fsyncs[-2:] == [f"file {tmp.name}", f"dir {tmp_path.name}"]  # content, then the rename


def test_a_failing_path_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")

    def half_written(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError("no space left")

    with pytest.raises(OSError, match="no space left"):
        with atomic_path(target) as tmp:
            half_written(tmp)
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["model.safetensors"]


def test_text_is_written_whole_and_encoded(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    atomic_write_text(target, '{"name": "café"}')
    atomic_write_text(target, '{"name": "naïve"}')
    assert target.read_text(encoding="utf-8") == '{"name": "naïve"}' and os.listdir(tmp_path) == ["record.json"]


def test_an_exclusive_write_never_replaces_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    atomic_write_bytes(target, b"first", exclusive=True, mode=0o600)
    assert target.read_bytes() == b"first" and target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        atomic_write_bytes(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first" and os.listdir(tmp_path) == ["out.png"]

    def no_links(src: str, dst: str) -> None:
        raise PermissionError("this filesystem has no hard links")

    monkeypatch.setattr(os, "link", no_links)
    atomic_write_bytes(tmp_path / "other.png", b"copied", exclusive=True)
    assert (tmp_path / "other.png").read_bytes() == b"copied"
    with pytest.raises(FileExistsError):
        atomic_write_bytes(target, b"third", exclusive=True)
    assert target.read_bytes() == b"first" and sorted(os.listdir(tmp_path)) == ["other.png", "out.png"]


def test_a_folder_is_swapped_in_whole_and_the_old_one_removed(tmp_path: Path, fsyncs: list[str]) -> None:
    target, previous = tmp_path / "checkpoint", tmp_path / "checkpoint.old"
    with atomic_dir(target, previous=previous) as tmp:
        (tmp / "a.json").write_text("1")
    assert (target / "a.json").read_text() == "1" and "file a.json" in fsyncs
    with atomic_dir(target, previous=previous) as tmp:
        (tmp / "b.json").write_text("2")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "c.bin").write_bytes(b"3")
        assert (target / "a.json").is_file()  # the old folder is in use until the block ends
    assert sorted(p.name for p in target.rglob("*")) == ["b.json", "c.bin", "sub"]
    assert {"file b.json", "file c.bin", "dir sub"} <= set(fsyncs)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint"]


def test_a_failed_folder_leaves_the_old_one_and_an_interrupted_swap_keeps_its_copy(tmp_path: Path) -> None:
    target, previous = tmp_path / "checkpoint", tmp_path / "checkpoint.old"
    target.mkdir()
    (target / "a.json").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target, previous=previous) as tmp:
            (tmp / "a.json").write_text("new")
            raise RuntimeError("killed")
    assert (target / "a.json").read_text() == "old" and sorted(os.listdir(tmp_path)) == ["checkpoint"]
    os.replace(target, previous)  # a save killed between its two renames: only the previous copy is left
    with pytest.raises(RuntimeError):
        with atomic_dir(target, previous=previous):
            raise RuntimeError("killed again")
    assert (previous / "a.json").read_text() == "old"  # still there: it is the only complete copy
    with atomic_dir(target, previous=previous) as tmp:
        (tmp / "a.json").write_text("new")
    assert (target / "a.json").read_text() == "new" and sorted(os.listdir(tmp_path)) == ["checkpoint"]


def test_stale_temporaries_of_a_target_are_removed_and_fresh_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "triplets.parquet"
    old, fresh = tmp_path / ".triplets.parquet.abc.tmp", tmp_path / ".triplets.parquet.def.tmp"
    legacy, other = tmp_path / ".triplets.parquet.tmp", tmp_path / ".triplets.jsonl.abc.tmp"
    for path in (target, old, fresh, legacy, other):
        path.write_bytes(b"x")
    os.symlink(target, tmp_path / ".triplets.parquet.link.tmp")
    for path in (old, legacy):
        os.utime(path, (1, 1))
    assert remove_stale_temporaries(target, older_than_s=3600) == sorted([legacy.name, old.name])
    assert sorted(os.listdir(tmp_path)) == sorted([target.name, fresh.name, other.name, ".triplets.parquet.link.tmp"])
    assert remove_stale_temporaries(target) == [fresh.name]
