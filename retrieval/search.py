"""Search a workspace: one space at a time, or content and style fused ("this scene, in that style")."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from indexer.encoders.registry import near_duplicate_cosine
from indexer.limits import check_fraction, check_k
from indexer.spaces import get_space
from indexer.workspace import Workspace

from .catalog_lookup import allowed_ids, image_refs, stored_vectors
from .embed import query_vector
from .fusion import fuse, fused_order, reference_vectors
from .index_cache import get_index
from .query import QueryTerm, parse_query

NEAR_DUPLICATE_SPACE = "content"  # near-duplicates are judged on what is shown, never on style
LOSSY_KINDS = ("ivfpq",)  # compressed codes: approximate scores, so candidates are re-scored exactly
RERANK_FACTOR = 10


@dataclass
class SearchHit:
    id: int
    path: str
    score: float
    corpus: str
    space: str
    scores: dict[str, float] = field(default_factory=dict)  # per-space cosine (joint search)

    def to_dict(self) -> dict:
        return asdict(self)


Query = str | list[QueryTerm]


def search(ws: Workspace, query: Query, *, space: str = "content", k: int = 10, offset: int = 0,
           corpora: list[str] | None = None, collapse: bool = True,
           collapse_threshold: float | None = None) -> list[SearchHit]:
    """The k nearest images to `query` in one space after skipping the first `offset` (the next page),
    near-duplicates collapsed onto the best of them (content cosine >= `collapse_threshold`, by default
    the content encoder's own near-duplicate level). offset + k is at most `indexer.limits.MAX_K`."""
    _check_page(k, offset, collapse_threshold)
    sp = get_space(ws, space)
    terms = parse_query(query) if isinstance(query, str) else query
    qv = query_vector(ws, sp, terms, corpora=corpora)
    allow = allowed_ids(ws, corpora)
    want = offset + k
    fetch = 3 * want + 10 if collapse else want
    index = get_index(ws, sp)
    if index.kind in LOSSY_KINDS:
        fetch = max(RERANK_FACTOR * fetch, 100)
    scores, ids = index.search(qv[None], fetch, allow=allow)
    found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
    if index.kind in LOSSY_KINDS:
        found = _rescore(ws, sp, qv, [i for i, _ in found])
    if collapse:
        found = _collapse(ws, found, collapse_threshold)
    page = found[offset:want]
    refs = image_refs(ws, [i for i, _ in page])
    return [SearchHit(i, refs[i].path, s, refs[i].corpus, sp.name, {sp.name: s}) for i, s in page if i in refs]


def joint_search(ws: Workspace, content: Query, style: Query, *, alpha: float = 0.5, k: int = 10, offset: int = 0,
                 corpora: list[str] | None = None, pool: int = 200,
                 collapse: bool = True, collapse_threshold: float | None = None) -> list[SearchHit]:
    """Images that match `content` in the content space and `style` in the style space, best first.

    Candidates: each space's `pool` nearest images (at least offset + k), scored exactly in both spaces.
    Fusion (`retrieval.fusion`): each cosine becomes a percentile -- the fraction of a fixed sample of that
    space's stored vectors (up to 2,048, the whole collection when smaller) that is less similar to the
    query -- and `score` = alpha * content percentile + (1 - alpha) * style percentile, in [0, 1]. A hit
    at 0.97 is, on average over the two spaces, closer to the queries than 97 % of the collection. Ties
    are broken by alpha * content cosine + (1 - alpha) * style cosine. alpha = 1 is therefore exactly the
    content cosine order, 0 the style order, 0.5 (default) weighs both. Each hit keeps both raw cosines in
    `scores` ({"content": cos, "style": cos}). Percentiles saturate at 1, so an image that is only very
    close in one space (e.g. the content query image itself) cannot outrank one close in both, and they
    do not depend on the candidate pool. `offset` skips the first results, as in `search`.
    """
    _check_page(k, offset, collapse_threshold)
    check_fraction(alpha, "--alpha", 0.0, 1.0)
    want = offset + k
    spaces = [get_space(ws, "content"), get_space(ws, "style")]
    queries = [content, style]
    allow = allowed_ids(ws, corpora)
    vectors, candidates = [], set()
    for sp, q in zip(spaces, queries):
        terms = parse_query(q) if isinstance(q, str) else q
        qv = query_vector(ws, sp, terms, corpora=corpora)
        vectors.append(qv)
        _s, ids = get_index(ws, sp).search(qv[None], max(pool, want), allow=allow)
        candidates.update(int(i) for i in ids[0] if i >= 0)
    cand = sorted(candidates)
    if not cand:
        return []
    exact = [_matrix(ws, sp, cand) @ qv for sp, qv in zip(spaces, vectors)]
    ref_scores = [reference_vectors(ws, sp) @ qv for sp, qv in zip(spaces, vectors)]
    fused = fuse(exact[0], exact[1], ref_scores[0], ref_scores[1], alpha)
    order = fused_order(fused, exact[0], exact[1], alpha)
    found = [(cand[j], float(fused[j])) for j in order]
    if collapse:
        found = _collapse(ws, found[: 3 * want + 10], collapse_threshold)
    page = found[offset:want]
    refs = image_refs(ws, [i for i, _ in page])
    pos = {c: j for j, c in enumerate(cand)}
    return [SearchHit(i, refs[i].path, s, refs[i].corpus, "joint",
                      {"content": float(exact[0][pos[i]]), "style": float(exact[1][pos[i]])})
            for i, s in page]


def _rescore(ws: Workspace, space, qv: np.ndarray, ids: list[int]) -> list[tuple[int, float]]:
    """Exact cosine of each candidate from the catalog's full vectors, best first."""
    if not ids:
        return []
    exact = _matrix(ws, space, ids) @ qv
    order = np.argsort(-exact, kind="stable")
    return [(ids[j], float(exact[j])) for j in order]


def _matrix(ws: Workspace, space, ids: list[int]) -> np.ndarray:  # noqa: ANN001
    """The catalog vectors of `ids` in `space`, one row each, in the given order."""
    stored = stored_vectors(ws, space, ids)
    return np.stack([stored[i] for i in ids])


def _collapse(ws: Workspace, found: list[tuple[int, float]], threshold: float | None) -> list[tuple[int, float]]:
    """Drop each result whose content vector is within `threshold` cosine of a better-ranked result's.

    The style space is no judge of near-duplicates: every image in one style is close there. The default
    threshold comes from the encoder registry, so a search by id never loads the content model."""
    if len(found) < 2:
        return found
    content = get_space(ws, NEAR_DUPLICATE_SPACE)
    if threshold is None:
        threshold = near_duplicate_cosine(content.encoder_id)
    ids = [i for i, _ in found]
    mat = _matrix(ws, content, ids)
    kept: list[int] = []
    for j in range(len(ids)):
        if not kept or float(np.max(mat[kept] @ mat[j])) < threshold:
            kept.append(j)
    return [found[j] for j in kept]


def _check_page(k: int, offset: int, collapse_threshold: float | None) -> None:
    """Bounds of a search request (indexer.limits), checked before any vector is read or allocated."""
    check_k(k, offset)
    if collapse_threshold is not None:
        check_fraction(collapse_threshold, "the collapse threshold (a content cosine)", -1.0, 1.0)
