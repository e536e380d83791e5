"""Adding a space to a workspace that already holds images: backfill, resume, staleness, and new files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_consistent, catalog_paths
from corpus_factory import render_family_image, write_content_style_families

import indexer.pipeline.backfill as backfill_mod
from indexer.vectors.store import iter_vectors
from indexer.pipeline.backfill import backfill_space, missing_count
from indexer.pipeline.prepare import PrepareTask, prepare
from indexer.pipeline.run import index_paths
from indexer.spaces import add_space, get_space, list_spaces, space_encoder
from indexer.workspace import Workspace, WorkspaceError
from ui.cli import main


@pytest.fixture
def indexed(tmp_path: Path):
    write_content_style_families(tmp_path / "fam", n_scenes=3, n_styles=3, variants=1, size=96)
    ws = Workspace.open(tmp_path / "ws")
    index_paths(ws, [str(tmp_path / "fam")], "fam", profile="starter", workers=0, progress=False)
    yield ws, tmp_path
    ws.close()


def _vectors(ws: Workspace, space: str) -> dict[int, np.ndarray]:
    sp = get_space(ws, space)
    return {int(i): v for ids, vecs in iter_vectors(ws, sp) for i, v in zip(ids, vecs)}


def test_space_add_backfills_every_indexed_image_with_the_vector_index_would_write(indexed, capsys) -> None:
    ws, tmp = indexed
    assert main(["space", "add", "aladin", "--encoder", "tiny/aladin", "--workers", "0",
                 "--workspace", str(ws.home), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dim"] == 16 and out["backfill"]["embedded"] == 9 and out["backfill"]["stale"] == []
    ids = assert_consistent(ws)  # every space, the new one included, holds exactly the indexed ids
    vectors = _vectors(ws, "aladin")
    assert set(vectors) == ids
    encoder = space_encoder(get_space(ws, "aladin"))
    path, image_id = min(catalog_paths(ws).items(), key=lambda item: item[1])
    prepared = prepare(PrepareTask(path, (("aladin", encoder.preprocess),)))
    direct = encoder.embed_images(encoder.preprocess.finish(prepared.pixels["aladin"][None]))[0]
    np.testing.assert_allclose(vectors[image_id], direct, rtol=1e-5, atol=1e-6)
    assert main(["space", "list", "--workspace", str(ws.home), "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"content", "style", "layout", "aladin"} and listed["aladin"]["missing_vectors"] == 0


def test_an_interrupted_backfill_resumes_without_losing_or_repeating_work(indexed, monkeypatch) -> None:
    ws, _tmp = indexed
    space = add_space(ws, "aladin", "tiny/aladin")
    real, calls = backfill_mod._write, {"n": 0}

    def dies_in_the_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(backfill_mod, "_write", dies_in_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        backfill_space(ws, "aladin", workers=0, batch_size=2, progress=False)
    monkeypatch.setattr(backfill_mod, "_write", real)
    assert missing_count(ws, space.id) == 9 - 4  # two committed batches of two were kept
    summary = backfill_space(ws, "aladin", workers=0, batch_size=2, progress=False)
    assert (summary.embedded, summary.already) == (5, 4)
    assert_consistent(ws)
    again = backfill_space(ws, "aladin", workers=0, progress=False)
    assert (again.embedded, again.already) == (0, 9)


def test_changed_files_are_left_for_index_and_new_files_get_every_space(indexed) -> None:
    ws, tmp = indexed
    add_space(ws, "aladin", "tiny/aladin")
    changed = sorted((tmp / "fam").iterdir())[0]
    render_family_image(2, 2, variant=5, size=96).save(changed)
    summary = backfill_space(ws, "aladin", workers=0, progress=False)
    assert summary.embedded == 8 and [s["path"] for s in summary.stale] == [str(changed)]
    assert summary.stale[0]["reason"] == "file changed since it was indexed"
    render_family_image(1, 0, variant=7, size=96).save(tmp / "fam" / "new.png")
    result = index_paths(ws, [str(tmp / "fam")], "fam", workers=0, progress=False)
    assert (result.added, result.updated) == (1, 1)
    ids = assert_consistent(ws)  # the changed and the new file have vectors in all three spaces
    assert len(ids) == 10 and missing_count(ws, get_space(ws, "aladin").id) == 0


def test_bad_space_requests_fail_before_anything_is_recorded(indexed, tmp_path) -> None:
    ws, _tmp = indexed
    with pytest.raises(WorkspaceError, match="already exists"):
        add_space(ws, "style", "tiny/aladin")
    with pytest.raises(WorkspaceError, match="lowercase"):
        add_space(ws, "Bad Name", "tiny/aladin")
    with pytest.raises(Exception, match="no-such-model"):
        add_space(ws, "other", "no-such-model")
    assert [sp.name for sp in list_spaces(ws)] == ["content", "style", "layout"]
    empty = Workspace.open(tmp_path / "empty")
    with pytest.raises(WorkspaceError, match="index a folder first"):
        add_space(empty, "aladin", "tiny/aladin")
    empty.close()
