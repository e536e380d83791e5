"""Dataset export (retrieval.export): every format read back with standard readers."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from retrieval import export as export_mod
from retrieval.export import FORMATS, MARKER, ExportError, ExportItem, export_items
from retrieval.export.naming import export_file_name, sanitise_stem


def _image_bytes(color: tuple[int, int, int], fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, format=fmt)
    return buf.getvalue()


def _make(src: Path, name: str, i: int, fmt: str = "PNG", **kw) -> ExportItem:
    data = _image_bytes((i * 40 % 256, 10, 200), fmt)
    path = src / name
    path.write_bytes(data)
    return ExportItem(
        id=i, path=str(path), sha256=hashlib.sha256(data).hexdigest(), corpus="art", **kw
    )


@pytest.fixture
def items(tmp_path: Path) -> list[ExportItem]:
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    vec = lambda d: tuple(float(x) for x in rng.standard_normal(d))
    return [  # deliberately unsorted
        _make(src, "wave.png", 7, tags=("sea", "ukiyo-e"), note="great", added_by="query:wave",
              added_at="2024-05-01T10:00:00+00:00", vectors={"content": vec(5), "style": vec(3)}),
        _make(src, "cat.photo.jpg", 3, "JPEG", tags=("cat",), vectors={"content": vec(5)}),
        _make(src, "dog.png", 12, added_by="mining:run-1",
              vectors={"content": vec(5), "style": vec(3)}),
    ]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_imagefolder_layout_and_metadata(items, tmp_path):
    out = tmp_path / "out"
    rep = export_items(items, out, "imagefolder", collection="waves", include_vectors=True)
    assert rep.n_items == 3 and not rep.skipped
    lines = (out / "train" / "metadata.jsonl").read_text("utf-8").splitlines()
    recs = [json.loads(line) for line in lines]
    assert [r["id"] for r in recs] == [3, 7, 12]
    by_id = {it.id: it for it in items}
    for r in recs:
        data = (out / "train" / r["file_name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r["sha256"] == by_id[r["id"]].sha256
        assert r["source_path"] == by_id[r["id"]].path
        assert r["tags"] == list(by_id[r["id"]].tags)
        assert set(r) >= {"corpus", "note", "added_by", "added_at", "vector_content", "vector_style"}
    assert recs[0]["file_name"] == "3-cat_photo.jpg"
    assert recs[0]["vector_style"] is None  # item 3 has no style vector
    assert recs[1]["note"] == "great" and recs[1]["added_by"] == "query:wave"
    assert sorted([*rep.files, MARKER]) == sorted(_files(out))


def test_webdataset_shards(items, tmp_path):
    out = tmp_path / "out"
    rep = export_items(items, out, "webdataset", collection="waves", shard_size=2)
    assert rep.files == ("waves-000000.tar", "waves-000001.tar")
    samples: dict[str, dict[str, bytes]] = defaultdict(dict)
    order = []
    for shard in rep.files:
        with tarfile.open(out / shard) as tar:
            for m in tar.getmembers():
                assert m.mtime == export_mod.common.FIXED_MTIME and m.uid == 0 and m.mode == 0o644
                key, ext = m.name.split(".", 1)  # WebDataset splits at the first dot
                if key not in order:
                    order.append(key)
                samples[key][ext] = tar.extractfile(m).read()
    assert order == ["3-cat_photo", "7-wave", "12-dog"]
    by_id = {it.id: it for it in items}
    for key, parts in samples.items():
        assert set(parts) in ({"json", "png"}, {"json", "jpg"})
        meta = json.loads(parts["json"])
        img = parts["png"] if "png" in parts else parts["jpg"]
        assert hashlib.sha256(img).hexdigest() == meta["sha256"] == by_id[meta["id"]].sha256
        assert "vector_content" not in meta  # not asked for


def test_parquet_roundtrip(items, tmp_path):
    out = tmp_path / "out"
    export_items(items, out, "parquet", collection="waves", include_vectors=True, shard_size=2)
    t = pq.read_table(out / "waves.parquet")
    assert t.column_names[:3] == ["id", "file_name", "image"]
    vtype = t.schema.field("vector_content").type
    assert pa.types.is_list(vtype) and vtype.value_type == pa.float32()
    rows = t.to_pylist()
    assert [r["id"] for r in rows] == [3, 7, 12]
    by_id = {it.id: it for it in items}
    for r in rows:
        assert hashlib.sha256(r["image"]["bytes"]).hexdigest() == r["sha256"]
        assert r["image"]["path"] == r["file_name"]
        it = by_id[r["id"]]
        assert r["tags"] == list(it.tags) and r["source_path"] == it.path
        for space in ("content", "style"):
            want = (it.vectors or {}).get(space)
            got = r[f"vector_{space}"]
            if want is None:
                assert got is None
            else:
                np.testing.assert_array_equal(np.float32(got), np.asarray(want, np.float32))


def test_folder_layout(items, tmp_path):
    out = tmp_path / "out"
    export_items(items, out, "folder", collection="waves")
    doc = json.loads((out / "metadata.json").read_text("utf-8"))
    assert doc["collection"] == "waves"
    for r in doc["items"]:
        assert hashlib.sha256((out / r["file_name"]).read_bytes()).hexdigest() == r["sha256"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_reproducible(items, tmp_path, fmt):
    a = export_items(items, tmp_path / "a", fmt, collection="c", include_vectors=True)
    b = export_items(list(reversed(items)), tmp_path / "b", fmt, collection="c",
                     include_vectors=True)
    fa, fb = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert fa and fa == fb and a.files == b.files


def test_refuses_to_overwrite(items, tmp_path):
    out = tmp_path / "out"
    export_items(items, out, "imagefolder", collection="c")
    (tmp_path / "sibling.txt").write_text("outside")
    with pytest.raises(ExportError, match="not empty"):
        export_items(items, out, "folder", collection="c")
    assert (out / "train" / "metadata.jsonl").is_file()
    rep = export_items(items, out, "folder", collection="c", overwrite=True)
    assert not (out / "train").exists() and rep.n_items == 3
    assert (tmp_path / "sibling.txt").read_text() == "outside"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sibling.txt", "src"]
    # an empty existing folder is fine without overwrite
    (tmp_path / "empty").mkdir()
    export_items(items, tmp_path / "empty", "imagefolder", collection="c")


def test_refuses_overwrite_of_folder_holding_sources(items, tmp_path):
    with pytest.raises(ExportError, match="source image"):
        export_items(items, tmp_path, "folder", collection="c", overwrite=True)
    assert all(Path(it.path).exists() for it in items)


def test_interrupted_export_leaves_out_untouched(items, tmp_path, monkeypatch):
    out = tmp_path / "out"
    export_items(items, out, "folder", collection="c")
    before = _files(out)

    def boom(loaded, root, ctx):
        next(iter(loaded))
        (root / "partial").write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setitem(export_mod.WRITERS, "folder", boom)
    with pytest.raises(KeyboardInterrupt):
        export_items(items, out, "folder", collection="c", overwrite=True)
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


EVIL = ["..png", "-rf.png", "a\nb\r.png", "back\\slash\\..\\x.png", "\x00\x1b[31m.png",
        "é" * 40 + "x" * 150 + ".png", "😀" * 60 + ".png", "...", ".hidden.png", "ünïcødé 写真.jpeg"]


def test_evil_names_stay_inside_out(tmp_path):
    src = tmp_path / "src" / "sub"
    src.mkdir(parents=True)
    items = [_make(src, name.replace("\x00", ""), i + 1) for i, name in enumerate(EVIL)]
    # a source path with traversal components in it
    traversal = _make(tmp_path, "x.png", 99)
    items.append(ExportItem(99, str(src / ".." / ".." / "x.png"), traversal.sha256, "art"))
    for fmt in FORMATS:
        out = tmp_path / f"out-{fmt}"
        rep = export_items(items, out, fmt, collection="../../evil\ncoll", include_vectors=True)
        assert rep.n_items == len(items) and not rep.skipped
        root = out.resolve()
        for rel in rep.files:
            p = (out / rel).resolve()
            assert root in p.parents and p.exists()
        for p in out.rglob("*"):
            assert root in p.resolve().parents
            if p.name == MARKER:
                continue
            assert not p.name.startswith((".", "-")) and "\n" not in p.name and len(p.name.encode()) < 120
    names = {export_file_name(i, n, b"") for i, n in enumerate(EVIL)}
    assert len(names) == len(EVIL)
    assert sanitise_stem("ünïcødé 写真") == "ünïcødé_写真"
    assert sanitise_stem("../../..") == "image"


def test_missing_and_changed_sources_are_skipped(items, tmp_path):
    Path(items[0].path).unlink()  # id 7
    Path(items[2].path).write_bytes(b"changed")  # id 12
    gone = ExportItem(40, str(tmp_path / "nope.png"), "0" * 64, "art")
    rep = export_items([*items, gone, items[1]], tmp_path / "out", "parquet", collection="c")
    assert rep.n_items == 1
    reasons = {s.id: s.reason for s in rep.skipped}
    assert set(reasons) == {3, 7, 12, 40}  # second copy of id 3 is a duplicate
    assert "duplicate" in reasons[3] and "sha256" in reasons[12] and "unreadable" in reasons[7]
    assert pq.read_table(tmp_path / "out" / "c.parquet").column("id").to_pylist() == [3]
    with pytest.raises(ExportError, match="unreadable"):
        export_items(items, tmp_path / "strict", "folder", collection="c", strict=True)
    assert not (tmp_path / "strict").exists()


def test_bad_arguments(items, tmp_path):
    with pytest.raises(ExportError, match="unknown export format"):
        export_items(items, tmp_path / "o", "zip", collection="c")
    with pytest.raises(ExportError, match="shard_size"):
        export_items(items, tmp_path / "o", "webdataset", collection="c", shard_size=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="not a folder"):
        export_items(items, tmp_path / "file", "folder", collection="c")


def test_empty_export(tmp_path):
    for fmt in FORMATS:
        rep = export_items([], tmp_path / fmt, fmt, collection="c")
        assert rep.n_items == 0
    assert pq.read_table(tmp_path / "parquet" / "c.parquet").num_rows == 0
    assert (tmp_path / "imagefolder" / "train" / "metadata.jsonl").read_bytes() == b""
