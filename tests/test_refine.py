"""Retrieval-only refinement along the style axis, with the starter models on a small real-image corpus."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from corpus_factory import write_content_style_families
from sqlalchemy import select

from generation.interpolate import interpolation_weights
from indexer.catalog.schema import ImageRecord
from indexer.pipeline.run import index_paths
from indexer.workspace import Workspace
from retrieval.query import QueryError
from retrieval.refine import (
    exemplar_vectors,
    path_positions,
    refine_strip,
    slerp,
    slerp_path,
)
from retrieval.search import search


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    root = tmp_path_factory.mktemp("refine")
    labels = write_content_style_families(root / "fam", n_scenes=3, n_styles=4, size=128)
    ws = Workspace.open(root / "ws")
    index_paths(ws, [str(root / "fam")], "fam", profile="starter", workers=0, progress=False)
    with ws.session() as s:
        ids = {Path(p).name: i for p, i in s.execute(select(ImageRecord.path, ImageRecord.id))}
    yield ws, ids, labels, root / "fam"
    ws.close()


def _ids(hits) -> list[int]:
    return [h.id for h in hits]


def test_endpoints_are_plain_style_searches_for_the_exemplars(families) -> None:
    ws, ids, labels, _ = families
    a, b = ids["scene0_style0_v0.png"], ids["scene1_style3_v0.png"]
    steps = refine_strip(ws, [a, f"id:{b}"], 5, k=4)
    assert [s.step for s in steps] == [0, 1, 2, 3, 4]
    assert steps[0].weights == [1.0, 0.0] and steps[-1].weights == [0.0, 1.0] and steps[2].weights == [0.5, 0.5]
    assert _ids(steps[0].hits) == _ids(search(ws, f"id:{a}", space="style", k=4))
    assert _ids(steps[-1].hits) == _ids(search(ws, f"id:{b}", space="style", k=4))
    assert steps[0].hits[0].id == a and steps[-1].hits[0].id == b
    # the starter style space groups by style: each end finds its exemplar's style first
    by_id = {i: labels[n] for n, i in ids.items()}
    assert by_id[steps[0].hits[1].id].style == 0 and by_id[steps[-1].hits[1].id].style == 3
    assert steps[0].to_dict()["hits"][0]["space"] == "style"


def test_scores_move_from_a_to_b_along_the_walk(families) -> None:
    ws, ids, *_ = families
    a, b = ids["scene2_style1_v0.png"], ids["scene0_style2_v0.png"]
    steps = refine_strip(ws, [a, b], 6, k=len(ids), collapse=False)
    score = [{h.id: h.score for h in s.hits} for s in steps]
    to_a, to_b = [sc[a] for sc in score], [sc[b] for sc in score]
    assert all(x > y for x, y in itertools.pairwise(to_a)) and all(x < y for x, y in itertools.pairwise(to_b))


def test_slerp_vectors_are_unit_norm_and_equidistant_at_the_middle(families) -> None:
    ws, ids, _labels, fam = families
    vecs = exemplar_vectors(ws, [ids["scene0_style0_v0.png"], str(fam / "scene2_style1_v0.png"),
                                 ids["scene1_style2_v0.png"]])
    path = slerp_path(vecs, 9)
    assert all(abs(float(np.linalg.norm(v)) - 1.0) < 1e-5 for _w, v in path)
    assert np.array_equal(path[0][1], vecs[0]) and np.array_equal(path[4][1], vecs[1])
    assert np.array_equal(path[-1][1], vecs[2])
    mid = slerp(vecs[0], vecs[1], 0.5)
    assert float(mid @ vecs[0]) == pytest.approx(float(mid @ vecs[1]), abs=1e-5)
    # a straight blend would leave the sphere; slerp's angle to A grows linearly in t
    angle = np.arccos(np.clip(vecs[0] @ vecs[1], -1, 1))
    quarter = slerp(vecs[0], vecs[1], 0.25)
    assert np.arccos(np.clip(float(quarter @ vecs[0]), -1, 1)) == pytest.approx(angle / 4, abs=1e-3)


def test_the_path_is_the_one_generation_interpolates_along() -> None:
    for n, steps in ((2, 5), (3, 5), (3, 4), (4, 9)):
        rows = interpolation_weights(n, steps)
        for (j, t), row in zip(path_positions(n, steps), rows):
            expected = [0.0] * n
            expected[j], expected[j + 1] = 1.0 - t, t
            assert row == pytest.approx(tuple(expected))


def test_bad_requests_are_refused(families) -> None:
    ws, ids, *_ = families
    with pytest.raises(QueryError, match="at least 2 exemplars"):
        refine_strip(ws, [ids["scene0_style0_v0.png"]], 3)
    with pytest.raises(QueryError, match="at least 2 steps"):
        refine_strip(ws, [ids["scene0_style0_v0.png"], ids["scene0_style1_v0.png"]], 1)
    with pytest.raises(QueryError, match="no image with id 99999"):
        refine_strip(ws, [99999, ids["scene0_style1_v0.png"]], 3)
    v = np.zeros(4, np.float32)
    v[0] = 1
    with pytest.raises(QueryError, match="opposite"):
        slerp(v, -v, 0.5)
