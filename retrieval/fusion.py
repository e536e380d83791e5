"""Fusing a content ranking and a style ranking into one 0-1 score ("this scene, in that style").

Each space's cosine is first calibrated *per query* into a percentile: the fraction of a fixed reference
sample of the space's stored vectors that the query is less similar to than to the candidate (ties count
half). 0.99 reads "closer to the query than 99 % of the collection", whatever the encoder's cosine scale
(EfficientNet-Lite0 cosines of unrelated photos sit around 0.3, the Magenta style vectors' around 0.8).
The fused score is the alpha-weighted mean of the two percentiles, so it stays in [0, 1].

When the content query is a picture (catalog ids or image files, no text) and the workspace has a layout
space, the content percentile is the larger of the content and the layout percentiles: "this scene" is
also met by the same composition redrawn in another style, which the starter content features (not
style-robust) miss. On the issue-17 benchmark this lifts "this photo in that style" from 0.41 to 0.64 at
rank 1 (`scripts/bench_quality.py`); a max, not a mean, so a content match is never diluted by a layout
that differs (another photo of the same subject).

Why percentiles, not z-scores over the candidates (the former rule): a cosine of 1.0 (the content query
image itself) standardised to 5-6 and outweighed any style penalty, and the z-scores moved with the
candidate pool. A percentile saturates at 1, so one space can no longer win alone, and it is computed
against the same reference sample whatever the pool. See `scripts/bench_quality.py` for the measurements.

Ties (several candidates above the whole reference sample) are broken by the alpha-weighted mean of the
raw cosines; with alpha = 1 the order is therefore exactly the content cosine order, with 0 the style order.
"""
from __future__ import annotations

import numpy as np
from sqlalchemy import func, select

from indexer.catalog.schema import Embedding, IndexLogEntry
from indexer.vectors.store import read_vectors
from indexer.spaces import SpaceInfo
from indexer.workspace import Workspace

REFERENCE_SAMPLE = 2048  # stored vectors per space a query's cosines are calibrated against
REFERENCE_SEED = 0
# (database, space, sample size) -> (collection state it was drawn at, the sample): one entry per space,
# replaced when that space's collection changes
_reference_cache: dict[tuple[str, int, int], tuple[tuple[int, int], np.ndarray]] = {}


def reference_vectors(ws: Workspace, space: SpaceInfo, size: int = REFERENCE_SAMPLE) -> np.ndarray:
    """A seeded sample of at most `size` stored vectors of `space` (all of them in a smaller collection).

    Cached per workspace and space with the catalog state it was drawn at (vector count and the index log's
    last sequence number, which every add or removal advances), so it is drawn again only after that
    space's collection changed."""
    with ws.session() as s:
        count = s.scalar(select(func.count(Embedding.image_id)).where(Embedding.space_id == space.id))
        seq = s.scalar(select(func.max(IndexLogEntry.seq)).where(IndexLogEntry.space_id == space.id))
    key, state = (ws.db_url, space.id, size), (int(count or 0), int(seq or 0))
    cached = _reference_cache.get(key)
    if cached is None or cached[0] != state:
        cached = _reference_cache[key] = (state, _draw_reference(ws, space, size))
    return cached[1]


def _draw_reference(ws: Workspace, space: SpaceInfo, size: int) -> np.ndarray:
    """Read the sample: every id of the space, a seeded choice of `size` of them, their vectors."""
    with ws.session() as s:
        ids = np.fromiter(s.scalars(select(Embedding.image_id).where(Embedding.space_id == space.id)
                                    .order_by(Embedding.image_id)), dtype=np.int64)
        if len(ids) > size:
            ids = np.sort(np.random.default_rng(REFERENCE_SEED).choice(ids, size, replace=False))
        _ids, vectors = read_vectors(ws, s, space, ids.tolist())
    return vectors.reshape(len(_ids), space.dim).astype(np.float32)


def percentiles(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Mid-rank empirical CDF of `scores` within `reference` cosines: in [0, 1], non-decreasing in the score.
    An empty reference gives 0.5 everywhere (no evidence either way)."""
    if len(reference) == 0:
        return np.full(len(scores), 0.5)
    ref = np.sort(reference)
    below = np.searchsorted(ref, scores, side="left")
    at_most = np.searchsorted(ref, scores, side="right")
    return (below + 0.5 * (at_most - below)) / len(ref)


def fuse(content: np.ndarray, style: np.ndarray, content_ref: np.ndarray, style_ref: np.ndarray,
         alpha: float, layout: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The fused 0-1 score of each candidate: alpha * content percentile + (1 - alpha) * style percentile.

    `content` / `style`: the candidates' cosines to the query in each space; `*_ref`: the query's cosines
    to the reference sample of that space (`reference_vectors`); `layout`: (candidates' layout cosines,
    the query's cosines to the layout reference), when the content query is a picture."""
    content_pct = percentiles(content_ref, content)
    if layout is not None:
        content_pct = np.maximum(content_pct, percentiles(layout[1], layout[0]))
    return alpha * content_pct + (1 - alpha) * percentiles(style_ref, style)


def fused_order(fused: np.ndarray, content: np.ndarray, style: np.ndarray, alpha: float) -> np.ndarray:
    """Candidate indices, best first: by fused score, ties by the alpha-weighted cosines, then input order."""
    blend = alpha * content + (1 - alpha) * style
    return np.lexsort((np.arange(len(fused)), -blend, -fused))
