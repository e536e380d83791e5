"""Input references (paths, catalog ids, weights), generation records and exact regeneration."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from blend_stylizer import BLEND, register_blend
from conftest import catalog_paths
from corpus_factory import pattern_image, write_random_patterns
from sqlalchemy import select, update

from generation import StyleRef, create_stylizer
from generation.inputs import InputError, resolve_content, resolve_style, split_weight
from generation.interpolate import interpolation_weights
from generation.jobs import GenerationRequest, generate
from generation.outputs import OutputError
from generation.records import (
    RecordError,
    differing_outputs,
    load_record,
    record_generation,
    regenerate,
)
from indexer.catalog.schema import GenerationRecord, ImageRecord
from indexer.pipeline.run import index_paths
from indexer.workspace import Workspace


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A tiny-profile workspace with 4 indexed images and one failed file; name -> catalog id."""
    root = tmp_path_factory.mktemp("gen")
    imgs = root / "imgs"
    write_random_patterns(imgs, 4, seed=2)
    (imgs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ws = Workspace.open(root / "ws")
    index_paths(ws, [str(imgs)], "c", profile="tiny", workers=0, progress=False)
    with ws.session() as s:
        ids = {Path(p).name: i for p, i in s.execute(select(ImageRecord.path, ImageRecord.id))}
    register_blend()
    yield ws, ids, imgs
    ws.close()


def _bytes(paths) -> list[bytes]:
    return [Path(p).read_bytes() for p in paths]


def test_references_resolve_paths_ids_and_weights(indexed, tmp_path: Path, monkeypatch) -> None:
    ws, ids, imgs = indexed
    by_path = resolve_content(ws, str(imgs / "0.png"))
    assert by_path.source == f"path:{imgs / '0.png'}" and len(by_path.sha256) == 64 and by_path.image.mode == "RGB"
    by_id = resolve_content(ws, str(ids["0.png"]))
    assert by_id.source == f"id:{ids['0.png']}" and by_id.sha256 == by_path.sha256
    assert resolve_content(ws, f"id:{ids['1.png']}").source == f"id:{ids['1.png']}"
    style = resolve_style(ws, f"id:{ids['2.png']}:0.25")
    assert (style.weight, style.source) == (0.25, f"id:{ids['2.png']}")
    assert resolve_style(ws, f"{imgs / '3.png'}:2").weight == 2.0
    # a file whose name ends like a weight is a file, not a weighted reference
    odd = tmp_path / "style:0.5"
    pattern_image((32, 32)).save(odd, "PNG")
    assert split_weight(str(odd)) == (str(odd), 1.0)
    assert resolve_style(ws, str(odd)).source == f"path:{odd}"
    monkeypatch.chdir(tmp_path)  # a file named like an id wins over the id, and is found relative to cwd
    pattern_image((32, 32)).save(tmp_path / "7", "PNG")
    assert resolve_style(ws, "7").source == f"path:{tmp_path / '7'}"


@pytest.mark.parametrize("ref, message", [
    ("missing.png", "no such image file: missing.png"),
    ("id:999999", "no image with id 999999"),
    ("", "empty"),
])
def test_unusable_references_say_why(indexed, ref: str, message: str) -> None:
    ws, *_ = indexed
    with pytest.raises(InputError, match=message):
        resolve_content(ws, ref)


def test_corrupt_files_failed_ids_and_folders_are_refused(indexed, tmp_path: Path) -> None:
    ws, ids, imgs = indexed
    with pytest.raises(InputError, match="cannot use .*broken.png as an image: truncated or corrupt|not an image"):
        resolve_content(ws, str(imgs / "broken.png"))
    with pytest.raises(InputError, match=f"catalog image {ids['broken.png']} .* could not be indexed"):
        resolve_style(ws, str(ids["broken.png"]))
    with pytest.raises(InputError, match="is a folder"):
        resolve_content(ws, str(imgs))
    with pytest.raises(InputError, match="needs a workspace"):
        resolve_content(None, "id:1")
    later = tmp_path / "later"
    later.mkdir()
    pattern_image((40, 40)).save(later / "x.png")
    index_paths(ws, [str(later)], "later", workers=0, progress=False)
    x_id = catalog_paths(ws)[str(later / "x.png")]
    pattern_image((40, 40), ((5, 5, 5),) * 4).save(later / "x.png")
    with pytest.raises(InputError, match=f"catalog image {x_id} .* changed on disk since it was indexed"):
        resolve_style(ws, f"{x_id}:0.5")


def _stylize(ws, content_ref: str, style_refs: list[str], out: Path, *, steps=None, seed: int = 5):
    stylizer = create_stylizer(BLEND)
    request = GenerationRequest(resolve_content(ws, content_ref), [resolve_style(ws, s) for s in style_refs],
                                {"strength": 0.5}, seed, steps)
    generated = generate(stylizer, request, out, progress=False)
    return record_generation(ws, request, generated, {"model": "blend-v1"}), generated


def test_record_round_trip_and_byte_identical_regeneration(indexed, tmp_path: Path) -> None:
    ws, ids, imgs = indexed
    record_id, generated = _stylize(ws, str(imgs / "0.png"), [f"id:{ids['1.png']}:2", str(imgs / "2.png")],
                                    tmp_path / "first")
    rec = load_record(ws, record_id)
    assert (rec.kind, rec.method, rec.seed, rec.parent_id) == ("stylize", BLEND, 5, None)
    assert rec.params == {"strength": 0.5, "noise": 8.0, "size": 48, "colour_match": "none"}
    assert rec.options == {"model": "blend-v1"} and rec.model_ids == {"blend": "blend-v1"}
    content_sha = resolve_content(ws, str(imgs / "0.png")).sha256
    assert rec.inputs["content"] == {"source": f"path:{imgs / '0.png'}", "sha256": content_sha, "prompt": None}
    assert [(s["source"], s["weight"]) for s in rec.inputs["styles"]] == [
        (f"id:{ids['1.png']}", 2.0), (f"path:{imgs / '2.png'}", 1.0)]
    assert rec.out_dir == str((tmp_path / "first").resolve()) and rec.output_paths() == generated.saved.paths()
    assert all(not Path(f["path"]).is_absolute() for f in rec.outputs["files"])
    assert rec.to_dict()["created_at"]

    result = regenerate(ws, record_id, tmp_path / "again")
    assert result.seed == 5 and result.params == rec.params
    assert _bytes(tmp_path / "again" / f["path"] for f in rec.outputs["files"]) == _bytes(rec.output_paths())
    assert differing_outputs(rec, tmp_path / "again") == []
    with pytest.raises(OutputError, match="already exists"):
        regenerate(ws, record_id, tmp_path / "again")  # refuses to overwrite


def test_an_interpolation_is_one_record_and_regenerates_exactly(indexed, tmp_path: Path) -> None:
    ws, ids, imgs = indexed
    weights = interpolation_weights(3, 5)
    record_id, _ = _stylize(ws, f"id:{ids['0.png']}", [str(imgs / "1.png"), f"id:{ids['2.png']}",
                                                              str(imgs / "3.png")], tmp_path / "strip", steps=weights)
    rec = load_record(ws, record_id)
    assert rec.kind == "interpolate" and rec.inputs["steps"] == [list(w) for w in weights]
    assert len(rec.outputs["files"]) == 5 and rec.outputs["steps"] == [[0], [1], [2], [3], [4]]
    assert rec.outputs["grid"]["path"].endswith("-strip.png")
    regenerate(ws, record_id, tmp_path / "strip2")
    assert differing_outputs(rec, tmp_path / "strip2") == []


def test_changed_inputs_and_other_models_are_refused(indexed, tmp_path: Path) -> None:
    ws, _ids, imgs = indexed
    style = tmp_path / "style.png"
    pattern_image((40, 40)).save(style)
    record_id, _ = _stylize(ws, str(imgs / "3.png"), [str(style)], tmp_path / "a")
    pattern_image((40, 40), ((1, 2, 3),) * 4).save(style)
    with pytest.raises(RecordError, match=f"cannot regenerate record {record_id}: the style 1 image .* changed since"):
        regenerate(ws, record_id, tmp_path / "b")
    style.write_bytes(b"no longer an image")
    with pytest.raises(RecordError, match="the style 1 image .* changed since it was recorded"):
        regenerate(ws, record_id, tmp_path / "b")
    style.unlink()
    with pytest.raises(RecordError, match="file not found"):
        regenerate(ws, record_id, tmp_path / "b")

    other, _ = _stylize(ws, str(imgs / "3.png"), [str(imgs / "1.png")], tmp_path / "c")
    with ws.session() as s:
        s.execute(update(GenerationRecord).where(GenerationRecord.id == other).values(model_ids='{"blend": "old"}'))
    with pytest.raises(RecordError, match="made with models"):
        regenerate(ws, other, tmp_path / "d")
    with pytest.raises(RecordError, match="no generation record 424242"):
        regenerate(ws, 424242, tmp_path / "e")


def test_vector_styles_and_parents_are_recorded(indexed, tmp_path: Path) -> None:
    ws, _ids, imgs = indexed
    stylizer = create_stylizer(BLEND)
    vec = np.linspace(-1, 1, 16).astype(np.float32)
    request = GenerationRequest(resolve_content(ws, str(imgs / "1.png")), [StyleRef(vector=vec, source="vector")])
    first = record_generation(ws, request, generate(stylizer, request, tmp_path / "v"))
    child = record_generation(ws, request, generate(stylizer, request, tmp_path / "w"), parent=first)
    rec = load_record(ws, child)
    assert rec.parent_id == first and rec.inputs["styles"][0]["vector"] == [float(x) for x in vec]
    regenerate(ws, child, tmp_path / "x")
    assert differing_outputs(rec, tmp_path / "x") == []
    with pytest.raises(RecordError, match="no generation record 999"):
        record_generation(ws, request, generate(stylizer, request, tmp_path / "y"), parent=999)
