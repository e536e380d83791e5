"""PARASOL triplet mining on a generated corpus with known scene (content) and style labels."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from corpus_factory import write_content_style_families
from PIL import Image
from sqlalchemy import select

import retrieval.mining.run as mining_run
from indexer.catalog.schema import ImageRecord
from indexer.pipeline.backfill import backfill_space
from indexer.pipeline.run import index_paths
from indexer.spaces import add_space, get_space
from indexer.workspace import Workspace
from retrieval.catalog_lookup import corpus_vectors
from retrieval.mining.run import MiningParams, mine_triplets
from retrieval.query import QueryError


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    root = tmp_path_factory.mktemp("mining")
    labels = write_content_style_families(root / "fam", n_scenes=6, n_styles=5, variants=1, size=160)
    ws = Workspace.open(root / "ws")
    index_paths(ws, [str(root / "fam")], "fam", profile="starter", workers=0, progress=False)
    with ws.session() as s:
        by_id = {i: labels[Path(p).name] for i, p in s.execute(select(ImageRecord.id, ImageRecord.path))}
    yield ws, by_id, root
    ws.close()


def _rows(summary) -> list[dict]:
    return [json.loads(line) for line in Path(summary.manifest_jsonl).read_text().splitlines()]


def _reference(ws, params: MiningParams) -> dict[int, tuple[int | None, int | None]]:
    """Brute force over all vectors: x -> (y, s), straight from the definition in METHODS.md 1a."""
    ids, style = corpus_vectors(ws, get_space(ws, params.style_space), "fam")
    _, content = corpus_vectors(ws, get_space(ws, "content"), "fam")
    out = {}
    for i, x in enumerate(ids.tolist()):
        picks = []
        for primary, cross, ceiling in ((content, style, params.style_ceiling), (style, content, params.content_ceiling)):
            sims = primary @ primary[i]
            order = [j for j in np.argsort(-sims, kind="stable") if j != i][: params.k]
            ok = [j for j in order if float(cross[j] @ cross[i]) <= ceiling]
            picks.append(int(ids[ok[0]]) if ok else None)
        out[x] = (picks[0], picks[1])
    return out


def test_triplets_equal_a_brute_force_reference(families) -> None:
    ws, _labels, root = families
    params = MiningParams("fam", "fam", "fam", k=20, content_ceiling=0.6, style_ceiling=0.97)
    summary = mine_triplets(ws, params, run="ref", out=root / "ref", progress=False)
    expected = _reference(ws, params)
    assert {r["x_id"]: (r["y_id"], r["s_id"]) for r in _rows(summary)} == expected
    assert summary.train_images == 30 and summary.complete == sum(1 for y, s in expected.values() if y and s)


def test_style_images_share_the_style_and_not_the_scene(families) -> None:
    ws, labels, root = families
    summary = mine_triplets(ws, MiningParams("fam", "fam", "fam", k=20, content_ceiling=0.99, style_ceiling=0.999),
                            run="labels", out=root / "labels", progress=False)
    rows = _rows(summary)
    assert len(rows) == 30 and all(r["s_id"] is not None for r in rows)
    for r in rows:
        x, s = labels[r["x_id"]], labels[r["s_id"]]
        assert s.style == x.style and s.scene != x.scene and r["s_id"] != r["x_id"]


def test_ceilings_hold_and_tightening_never_adds_candidates(families) -> None:
    ws, _labels, root = families
    loose = _rows(mine_triplets(ws, MiningParams("fam", "fam", "fam", k=20, content_ceiling=0.7, style_ceiling=0.99),
                                run="loose", out=root / "loose", progress=False))
    tight = _rows(mine_triplets(ws, MiningParams("fam", "fam", "fam", k=20, content_ceiling=0.45, style_ceiling=0.9),
                                run="tight", out=root / "tight", progress=False))
    assert all(r["s_content_sim"] <= 0.45 for r in tight if r["s_id"]) and all(r["y_style_sim"] <= 0.9 for r in tight if r["y_id"])
    by_x = {r["x_id"]: r for r in loose}
    for r in tight:
        before = by_x[r["x_id"]]
        if before["s_id"] is not None and before["s_content_sim"] <= 0.45:
            assert r["s_id"] == before["s_id"]  # still the nearest survivor
        if r["s_id"] is not None:
            assert before["s_id"] is not None and r["s_style_sim"] <= before["s_style_sim"] + 1e-6
    assert sum(r["s_id"] is not None for r in tight) <= sum(r["s_id"] is not None for r in loose)
    assert sum(r["y_id"] is not None for r in tight) <= sum(r["y_id"] is not None for r in loose)


def test_an_interrupted_run_resumes_to_the_same_manifest(families, monkeypatch) -> None:
    ws, _labels, root = families
    params = MiningParams("fam", "fam", "fam", k=10, content_ceiling=0.6, style_ceiling=0.97)
    whole = mine_triplets(ws, params, run="whole", out=root / "whole", batch_size=8, progress=False)
    real, calls = mining_run.pick_nearest_under_ceiling, {"n": 0}

    def dies_in_the_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(mining_run, "pick_nearest_under_ceiling", dies_in_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        mine_triplets(ws, params, run="resumed", out=root / "resumed", batch_size=8, progress=False)
    monkeypatch.setattr(mining_run, "pick_nearest_under_ceiling", real)
    with pytest.raises(QueryError, match="other parameters"):
        mine_triplets(ws, MiningParams("fam", "fam", "fam", k=11), run="resumed", progress=False)
    out = root / "resumed"
    out.mkdir(exist_ok=True)
    stale = [out / ".triplets.parquet.tmp", out / ".triplets.jsonl.k1ll3d.tmp"]  # killed writers' leftovers
    for leftover in [*stale, out / ".triplets.jsonl.w0rk1n.tmp"]:
        leftover.write_bytes(b"half")
    for leftover in stale:
        os.utime(leftover, (1, 1))
    resumed = mine_triplets(ws, params, run="resumed", out=out, batch_size=8, progress=False)
    assert sorted(os.listdir(out)) == [".triplets.jsonl.w0rk1n.tmp", "similarities.png", "triplets.jsonl",
                                       "triplets.parquet"]  # a recent one may be another writer's: kept
    assert resumed.mined_now == 30 - 16  # two committed batches of 8 were kept
    assert Path(resumed.manifest_jsonl).read_bytes() == Path(whole.manifest_jsonl).read_bytes()
    import pyarrow.parquet as pq

    assert pq.read_table(resumed.manifest_parquet).equals(pq.read_table(whole.manifest_parquet))
    import json

    rows = [json.loads(line) for line in Path(whole.manifest_jsonl).read_text().splitlines()]
    paths = [r[c] for r in rows for c in ("x_path", "y_path", "s_path") if r[c] is not None]
    assert paths and all(Path(p).is_absolute() and Path(p).is_file() for p in paths)  # never root-relative
    with Image.open(resumed.histograms) as png:
        assert png.format == "PNG" and png.size[0] > 400


def test_mining_runs_in_a_style_space_added_beside_the_profile_one(families) -> None:
    ws, _labels, root = families
    add_space(ws, "aladin", "tiny/aladin")
    backfill_space(ws, "aladin", workers=0, progress=False)
    params = MiningParams("fam", "fam", "fam", k=20, content_ceiling=0.6, style_ceiling=0.9, style_space="aladin")
    summary = mine_triplets(ws, params, run="aladin", out=root / "aladin", progress=False)
    rows = _rows(summary)
    assert {r["x_id"]: (r["y_id"], r["s_id"]) for r in rows} == _reference(ws, params)
    default = _rows(mine_triplets(ws, MiningParams("fam", "fam", "fam", k=20, content_ceiling=0.6, style_ceiling=0.9),
                                  run="default-space", out=root / "default-space", progress=False))
    # the style similarities come from the chosen space: tiny ALADIN codes, not the Magenta vectors
    assert [r["s_style_sim"] for r in rows] != [r["s_style_sim"] for r in default]
