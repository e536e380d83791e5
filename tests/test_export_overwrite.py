"""`overwrite` replaces only an earlier StyleLens export (its marker) and never deletes a file it did not write."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from retrieval.export import MARKER, ExportError, ExportItem, export_items
from retrieval.export.marker import read_marker


@pytest.fixture
def items(tmp_path: Path) -> list[ExportItem]:
    src = tmp_path / "src"
    src.mkdir()
    out = []
    for i, data in enumerate([b"\x89PNG\r\n\x1a\nfirst", b"\x89PNG\r\n\x1a\nsecond"], start=1):
        path = src / f"img{i}.png"
        path.write_bytes(data)
        out.append(ExportItem(id=i, path=str(path), sha256=hashlib.sha256(data).hexdigest(), corpus="art"))
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_overwrite_refuses_a_folder_that_is_not_an_export(items, tmp_path):
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "thesis.txt").write_text("years of work")
    (victim / "sub" / "notes.txt").write_text("more")
    with pytest.raises(ExportError, match="not a StyleLens export") as err:
        export_items(items, victim, "folder", collection="c1", overwrite=True)
    assert "overwrite=True" not in str(err.value)
    assert _tree(victim) == {"thesis.txt": b"years of work", "sub/notes.txt": b"more"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "victim"]  # no staging folder left


def test_the_marker_names_collection_format_and_files_and_is_reproducible(items, tmp_path):
    rep = export_items(items, tmp_path / "a", "imagefolder", collection="c1")
    export_items(list(reversed(items)), tmp_path / "b", "imagefolder", collection="c1")
    marker = read_marker(tmp_path / "a")
    assert marker is not None and (marker.collection, marker.format) == ("c1", "imagefolder")
    assert sorted(marker.files) == sorted(rep.files)
    assert (tmp_path / "a" / MARKER).read_bytes() == (tmp_path / "b" / MARKER).read_bytes()


def test_overwrite_replaces_an_earlier_export_and_nothing_else(items, tmp_path):
    out = tmp_path / "out"
    export_items(items, out, "imagefolder", collection="c1")
    (tmp_path / "beside.txt").write_text("keep")
    rep = export_items(items, out, "parquet", collection="c1", overwrite=True)
    assert sorted(_tree(out)) == sorted([*rep.files, MARKER]) and not (out / "train").exists()
    assert read_marker(out).format == "parquet"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beside.txt", "out", "src"]


@pytest.mark.parametrize("change", ["added file", "added folder", "edited file"])
def test_overwrite_refuses_an_export_holding_a_file_it_did_not_write(items, tmp_path, change):
    out = tmp_path / "out"
    export_items(items, out, "imagefolder", collection="c1")
    if change == "added file":
        (out / "train" / "mine.txt").write_text("user data")
        expected = "train/mine.txt"
    elif change == "added folder":
        (out / "notes").mkdir()
        (out / "notes" / "a.txt").write_text("user data")
        expected = "notes/"
    else:
        (out / "train" / "metadata.jsonl").write_text("edited by hand\n")
        expected = "train/metadata.jsonl"
    before = _tree(out)
    with pytest.raises(ExportError, match="move them out") as err:
        export_items(items, out, "folder", collection="c1", overwrite=True)
    assert expected in str(err.value)
    assert _tree(out) == before


def test_a_forged_marker_cannot_delete_outside_the_folder(items, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "victim.txt").write_text("outside")
    (out / MARKER).write_text(json.dumps({"kind": "stylelens-export", "version": 1, "collection": "c",
                                          "format": "folder", "files": {"../victim.txt": 7}}))
    with pytest.raises(ExportError, match="not a StyleLens export"):
        export_items(items, out, "folder", collection="c", overwrite=True)
    assert (tmp_path / "victim.txt").read_text() == "outside"


def test_a_file_added_while_the_export_runs_is_kept(items, tmp_path, monkeypatch):
    """The last check passed, then a file appeared: only the old export's own files are deleted."""
    from retrieval.export import output

    out = tmp_path / "out"
    export_items(items, out, "folder", collection="c1")
    real_rename = os.rename

    def rename_after_a_user_write(src, dst):  # noqa: ANN001
        if Path(src) == out:
            (out / "late.txt").write_text("just saved")
        real_rename(src, dst)

    monkeypatch.setattr(output.os, "rename", rename_after_a_user_write)
    export_items(items, out, "folder", collection="c1", overwrite=True)
    kept = [p for p in tmp_path.glob(".out.old-*/out/late.txt")]
    assert [p.read_text() for p in kept] == ["just saved"]
    assert read_marker(out) is not None and not (out / "late.txt").exists()


_DIE_IN_EXPORT = """
import hashlib, os, sys
from pathlib import Path
import retrieval.export.output as output
from retrieval.export import ExportItem, export_items
src, out, moment = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
items = [ExportItem(id=i, path=str(p), sha256=hashlib.sha256(p.read_bytes()).hexdigest(), corpus="art")
         for i, p in enumerate(sorted(src.iterdir()), start=1)]
if moment == "staging":  # die with the staging folder half written, like kill -9 (no clean-up runs)
    real = output.staged_output
    def dying(*a, **k):
        with real(*a, **k) as tmp:
            (tmp / "half-written.png").write_bytes(b"x")
            os._exit(9)
            yield tmp
    output.staged_output = output.contextmanager(dying)
    import retrieval.export as export
    export.staged_output = output.staged_output
else:  # die between moving the old export aside and moving the new one in
    real_rename, calls = os.rename, []
    def rename(a, b):
        calls.append(a)
        real_rename(a, b)
        if len(calls) == 1:
            os._exit(9)
    output.os.rename = rename
export_items(items, out, "folder", collection="c1", overwrite=True)
"""


@pytest.mark.parametrize("moment", ["staging", "between-renames"])
def test_a_killed_export_leaves_nothing_the_next_export_does_not_tidy(items, tmp_path, moment):
    import subprocess
    import sys

    out = tmp_path / "out"
    first = export_items(items, out, "folder", collection="c1")
    before = _tree(out)
    died = subprocess.run([sys.executable, "-c", _DIE_IN_EXPORT, str(tmp_path / "src"), str(out), moment],
                          capture_output=True, text=True, timeout=120)
    assert died.returncode == 9, died.stderr[-2000:]
    left = sorted(p.name.rsplit("-", 1)[0] for p in tmp_path.iterdir() if p.name.startswith(".out."))
    if moment == "staging":
        assert left == [".out.export"] and _tree(out) == before
    else:  # the earlier export sits in its holding folder, the new one in staging
        assert left == [".out.export", ".out.old"] and not out.exists()
    again = export_items(items, out, "folder", collection="c1", overwrite=True)
    assert sorted(again.files) == sorted(first.files) and _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]  # staging and holding folders gone


def test_an_export_beside_a_running_one_is_refused_with_a_clear_error(items, tmp_path):
    from indexer.filelock import file_lock

    with file_lock(tmp_path):  # what a running export into this parent folder holds
        with pytest.raises(ExportError, match="another StyleLens export is writing into"):
            export_items(items, tmp_path / "out", "folder", collection="c1")
    assert not (tmp_path / "out").exists()
    export_items(items, tmp_path / "out", "folder", collection="c1")  # free again
