"""Joint search ("this scene, in that style") on a small generated corpus with hand-made vectors, so every
expectation is exact: the fused rule (retrieval/fusion.py: alpha-weighted mean of per-query percentiles
of each space's cosine) ranks the image close in *both* spaces first, alpha = 1 / 0 are the pure content /
style orders, scores are 0-1 and do not move with the candidate pool, and paging follows the ranking."""
from __future__ import annotations


import numpy as np
import pytest
from sqlalchemy import delete
from tiny_workspace import build_workspace, write_images

from indexer.catalog.schema import Embedding
from indexer.spaces import get_space
from indexer.vectors import store
from indexer.workspace import Workspace
from retrieval.fusion import percentiles
from retrieval.query import QueryTerm
from retrieval.search import joint_search

# Cosine of each image to the content query and to the style query, images in id order:
#   0 = the content query's own photo (content 1.0, style mediocre)   1 = that scene in the asked style
#   2 = the style query's own image (style 0.99, other scene)          3 = the scene in another style
#   4 = another scene in the asked style                               5-7 = unrelated
CONTENT = [1.0, 0.45, 0.0, 0.50, 0.02, 0.05, 0.03, 0.04]
STYLE = [0.60, 0.75, 0.99, 0.55, 0.95, 0.61, 0.58, 0.63]
CONTENT_ORDER = [0, 3, 1, 5, 7, 6, 4, 2]
STYLE_ORDER = [2, 4, 1, 7, 5, 0, 6, 3]
# percentiles over the 8 images (mid-rank / 8), fused at alpha 0.5: image 1 = (5.5 + 5.5) / 16 = 0.6875;
# 2, 4, 7, 5 tie at 0.5 and are ordered by 0.5 * content cosine + 0.5 * style cosine
JOINT_ORDER = [1, 0, 2, 4, 7, 5, 3, 6]
JOINT_SCORES = [5.5 / 8, 5 / 8, 4 / 8, 4 / 8, 4 / 8, 4 / 8, 3.5 / 8, 2 / 8]


def _vectors(cosines: list[float], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A unit query e0 and one unit vector per image with exactly the given cosine to it."""
    query = np.eye(dim, dtype=np.float32)[0]
    rows = np.zeros((len(cosines), dim), dtype=np.float32)
    for i, c in enumerate(cosines):
        rows[i, 0], rows[i, i + 1] = c, np.sqrt(1 - c * c)
    return query, rows


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Workspace, list[int], list[QueryTerm], list[QueryTerm]]:
    """Eight tiny-profile images whose stored vectors are replaced by the hand-made ones above."""
    root = tmp_path_factory.mktemp("joint")
    ids = build_workspace(root / "ws", write_images(root / "imgs", n=len(CONTENT)))
    ws = Workspace.open(root / "ws")
    terms = []
    for name, cosines in (("content", CONTENT), ("style", STYLE)):
        space = get_space(ws, name)
        query, rows = _vectors(cosines, space.dim)
        with ws.session() as s:  # the hand-made vectors replace the stored ones (a new shard)
            s.execute(delete(Embedding).where(Embedding.image_id.in_(list(ids)), Embedding.space_id == space.id))
            store.append(s, ws, space.id, list(ids), np.asarray(rows[:len(ids)], np.float32))
        terms.append([QueryTerm("vector", query)])
    yield ws, ids, terms[0], terms[1]
    ws.close()


def _order(hits, ids: list[int]) -> list[int]:
    return [ids.index(h.id) for h in hits]


def test_the_image_close_in_both_spaces_comes_first(corpus) -> None:
    """Image 1 is first in neither space alone; the old z-score fusion put image 0 (content 1.0) first."""
    ws, ids, content, style = corpus
    hits = joint_search(ws, content, style, k=8, collapse=False)
    assert _order(hits, ids) == JOINT_ORDER
    assert [h.score for h in hits] == pytest.approx(JOINT_SCORES)
    assert CONTENT_ORDER[0] != 1 and STYLE_ORDER[0] != 1


def test_hits_keep_both_cosines_and_a_0_to_1_score(corpus) -> None:
    ws, ids, content, style = corpus
    for alpha in (0.0, 0.25, 0.5, 0.75, 1.0):
        hits = joint_search(ws, content, style, alpha=alpha, k=8, collapse=False)
        assert all(0.0 <= h.score <= 1.0 for h in hits)
        for h in hits:
            i = ids.index(h.id)
            assert h.scores == pytest.approx({"content": CONTENT[i], "style": STYLE[i]}, abs=1e-6)


@pytest.mark.parametrize(("alpha", "expected", "cosines"), [(1.0, CONTENT_ORDER, CONTENT), (0.0, STYLE_ORDER, STYLE)],
                         ids=["alpha=1 is content", "alpha=0 is style"])
def test_alpha_extremes_are_the_single_space_orders(corpus, alpha, expected, cosines) -> None:
    ws, ids, content, style = corpus
    hits = joint_search(ws, content, style, alpha=alpha, k=8, collapse=False)
    assert _order(hits, ids) == expected
    # the score is then that space's percentile alone
    assert [h.score for h in hits] == pytest.approx(percentiles(np.array(cosines), np.array(cosines))[expected])


def test_alpha_in_between_moves_towards_style(corpus) -> None:
    ws, ids, content, style = corpus
    assert _order(joint_search(ws, content, style, alpha=0.3, k=5, collapse=False), ids) == [1, 2, 4, 7, 0]


def test_scores_do_not_depend_on_the_candidate_pool(corpus) -> None:
    """With a pool of 3 per space the candidates are {0, 3, 1} | {2, 4, 1}; image 1 keeps its score."""
    ws, ids, content, style = corpus
    small = joint_search(ws, content, style, k=1, pool=3, collapse=False)
    assert _order(small, ids) == [1] and small[0].score == pytest.approx(JOINT_SCORES[0])


def test_offset_pages_through_the_same_ranking(corpus) -> None:
    ws, ids, content, style = corpus
    pages = [joint_search(ws, content, style, k=3, offset=o, collapse=False) for o in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [_order(p, ids) for p in pages] == [JOINT_ORDER[0:3], JOINT_ORDER[3:6], JOINT_ORDER[6:8]]
    assert [h.score for p in pages for h in p] == pytest.approx(JOINT_SCORES)


def test_percentiles_are_mid_rank_and_monotone() -> None:
    ref = np.array([0.1, 0.2, 0.2, 0.9])
    assert percentiles(ref, np.array([0.0, 0.2, 0.5, 1.0])).tolist() == [0.0, 0.5, 0.75, 1.0]
    assert percentiles(np.array([]), np.array([0.3])).tolist() == [0.5]


def test_each_space_draws_its_reference_sample_once_while_its_collection_is_unchanged(corpus, monkeypatch) -> None:
    """A joint query calibrates against both spaces' samples; neither may evict the other from the cache."""
    import retrieval.fusion as fusion

    ws, ids, content, style = corpus
    drawn: list[int] = []
    real = fusion._draw_reference
    monkeypatch.setattr(fusion, "_reference_cache", {})
    monkeypatch.setattr(fusion, "_draw_reference", lambda w, sp, size: drawn.append(sp.id) or real(w, sp, size))
    first = joint_search(ws, content, style, k=8, collapse=False)
    again = joint_search(ws, content, style, k=8, collapse=False)
    assert len(drawn) == 2 and len(set(drawn)) == 2  # once per space, not once per query
    assert [h.id for h in again] == [h.id for h in first]
