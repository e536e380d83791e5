"""Search a workspace: one space at a time, or content and style fused ("this scene, in that style")."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from indexer.limits import check_fraction, check_k
from indexer.spaces import get_space, list_spaces
from indexer.workspace import Workspace

from .catalog_lookup import available_matrix, available_vectors, image_refs, stored_vectors
from .duplicates import Folded, collapse as fold_duplicates
from .embed import query_vector
from .filters import SearchFilter, allowed_ids as filter_ids
from .fusion import fuse, fused_order, reference_vectors
from .index_cache import get_index
from .query import QueryError, QueryTerm, parse_query

LAYOUT_SPACE = "layout"  # the layout signature space every profile has (indexer.encoders.layout_signature)
RERANK_FACTOR = 10
WIDEN_ROUNDS = 2  # a page short after folding near-duplicates is refetched with 4x, then 16x the candidates


@dataclass
class SearchHit:
    id: int
    path: str
    score: float
    corpus: str
    space: str
    scores: dict[str, float] = field(default_factory=dict)  # per-space cosine (joint search)
    duplicates: list[int] = field(default_factory=list)  # near-duplicates folded onto this hit, best first

    def to_dict(self) -> dict:
        return asdict(self)


Query = str | list[QueryTerm]


def search(ws: Workspace, query: Query, *, space: str = "content", k: int = 10, offset: int = 0,
           corpora: list[str] | None = None, collapse: bool = True,
           collapse_threshold: float | None = None, filters: SearchFilter | None = None) -> list[SearchHit]:
    """The k nearest images to `query` in one space after skipping the first `offset` (the next page),
    near-duplicates (near-identical in every space, `retrieval.duplicates`) folded onto the best of them
    and listed in its `duplicates`; `collapse_threshold` overrides the content space's threshold.
    `filters` (`retrieval.filters`; `corpora` adds to it) restricts the images returned: exactly k hits
    come back whenever offset + k images pass it, whatever the index kind. With `collapse`, a page that
    folding left short is refetched with 4x, then 16x the candidates (WIDEN_ROUNDS, which bounds the cost
    when almost every candidate is a copy of a few images). offset + k is at most `indexer.limits.MAX_K`."""
    _check_page(k, offset, collapse_threshold)
    flt = (filters or SearchFilter()).with_corpora(corpora)
    sp = get_space(ws, space)
    terms = parse_query(query) if isinstance(query, str) else query
    qv = query_vector(ws, sp, terms, corpora=list(flt.corpora) or None)
    allow = filter_ids(ws, flt)
    want = offset + k
    index = get_index(ws, sp)
    fetch = 3 * want + 10 if collapse else want
    if not index.exact_scores:  # compressed codes: more candidates, re-scored exactly below
        fetch = max(RERANK_FACTOR * fetch, 100)
    for _round in range(WIDEN_ROUNDS + 1):
        found, complete = _nearest(ws, sp, index, qv, allow, fetch)
        page = _page(ws, found, collapse, collapse_threshold, offset, want)
        refs = image_refs(ws, [f.id for f in page])
        if complete or (len(page) == want - offset and len(refs) == len(page)):
            break
        fetch *= 4  # near-duplicates folded or stale ids dropped: widen the candidate list
    return [SearchHit(f.id, refs[f.id].path, f.score, refs[f.id].corpus, sp.name, {sp.name: f.score}, list(f.duplicates))
            for f in page if f.id in refs]


def _nearest(ws: Workspace, sp, index, qv: np.ndarray, allow: np.ndarray | None,  # noqa: ANN001
             fetch: int) -> tuple[list[tuple[int, float]], bool]:
    """The `fetch` nearest allowed images, best first, and whether that ranks every allowed image.

    The index answers (exact over the allowed vectors for small allow-lists, a filtered ANN walk for large
    ones, `VectorIndex.search`); if it still comes back short of min(fetch, allowed), the allowed images
    are ranked exactly from the catalog's vectors, so a selective filter never loses a match."""
    available = index.ntotal if allow is None else int(index.contains(allow).sum())  # no id list of millions
    scores, ids = index.search(qv[None], fetch, allow=allow)
    found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
    if not index.exact_scores:
        found = _rescore(ws, sp, qv, [i for i, _ in found])
    if len(found) < min(fetch, available):
        pool = index.ids() if allow is None else allow[index.contains(allow)]
        have = available_vectors(ws, sp, pool.tolist())
        found = _ranked(list(have), np.stack(list(have.values())), qv)[:fetch] if have else []
    return found, fetch >= available


def joint_search(ws: Workspace, content: Query, style: Query, *, alpha: float = 0.5, k: int = 10, offset: int = 0,
                 corpora: list[str] | None = None, pool: int = 200, collapse: bool = True,
                 collapse_threshold: float | None = None, filters: SearchFilter | None = None) -> list[SearchHit]:
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
    do not depend on the candidate pool. `offset` skips the first results and `filters` restricts them,
    as in `search`.

    A content query made of pictures (ids, files) also counts the layout space: the content percentile is
    the larger of the content and layout percentiles, the layout index adds candidates, and `scores` gains
    "layout" (see `retrieval.fusion`). Text has no layout, so a text content query is unchanged.
    """
    _check_page(k, offset, collapse_threshold)
    check_fraction(alpha, "--alpha", 0.0, 1.0)
    want = offset + k
    spaces = [get_space(ws, "content"), get_space(ws, "style")]
    terms = [parse_query(q) if isinstance(q, str) else q for q in (content, style)]
    flt = (filters or SearchFilter()).with_corpora(corpora)
    corpora = list(flt.corpora) or None
    allow = filter_ids(ws, flt)
    vectors = [query_vector(ws, sp, t, corpora=corpora) for sp, t in zip(spaces, terms)]
    layout = _layout_query(ws, terms[0], corpora)
    searched = list(zip(spaces, vectors)) + ([layout] if layout else [])
    candidates: set[int] = set()
    for sp, qv in searched:
        found, _complete = _nearest(ws, sp, get_index(ws, sp), qv, allow, max(pool, want))
        candidates.update(i for i, _s in found)
    cand = sorted(candidates)
    if not cand:
        return []
    exact = [_matrix(ws, sp, cand) @ qv for sp, qv in zip(spaces, vectors)]
    ref_scores = [reference_vectors(ws, sp) @ qv for sp, qv in zip(spaces, vectors)]
    layout_scores = None
    if layout:
        layout_scores = (available_matrix(ws, layout[0], cand)[0] @ layout[1],  # not backfilled: cosine 0
                         reference_vectors(ws, layout[0]) @ layout[1])
    fused = fuse(exact[0], exact[1], ref_scores[0], ref_scores[1], alpha, layout_scores)
    order = fused_order(fused, exact[0], exact[1], alpha)
    found = [(cand[j], float(fused[j])) for j in order]
    window = found[: 3 * want + 10] if collapse else found
    page = _page(ws, window, collapse, collapse_threshold, offset, want)
    if len(page) < want - offset and len(window) < len(found):  # folding left it short: fold every candidate
        page = _page(ws, found, collapse, collapse_threshold, offset, want)
    refs = image_refs(ws, [f.id for f in page])
    pos = {c: j for j, c in enumerate(cand)}
    shown = [("content", exact[0]), ("style", exact[1])] + ([("layout", layout_scores[0])] if layout_scores else [])
    return [SearchHit(f.id, refs[f.id].path, f.score, refs[f.id].corpus, "joint",
                      {name: float(values[pos[f.id]]) for name, values in shown}, list(f.duplicates))
            for f in page]


def _layout_query(ws: Workspace, terms: list[QueryTerm], corpora: list[str] | None):  # noqa: ANN202
    """(layout space, query vector) when the workspace has a layout space and the content query is made of
    pictures only (ids, image files); None otherwise (text has no layout; a flat picture has none either)."""
    if not terms or any(t.kind not in ("id", "image") for t in terms):
        return None
    space = next((sp for sp in list_spaces(ws) if sp.name == LAYOUT_SPACE), None)
    if space is None:
        return None
    try:
        return space, query_vector(ws, space, terms, corpora=corpora)
    except QueryError:  # flat picture, or an image indexed before the layout space was backfilled
        return None


def _rescore(ws: Workspace, space, qv: np.ndarray, ids: list[int]) -> list[tuple[int, float]]:
    """Exact cosine of each candidate from the catalog's full vectors, best first."""
    return _ranked(ids, _matrix(ws, space, ids), qv) if ids else []


def _ranked(ids: list[int], matrix: np.ndarray, qv: np.ndarray) -> list[tuple[int, float]]:
    """(id, cosine) of each row of `matrix` against `qv`, best first (ties: the given order)."""
    exact = matrix @ qv
    order = np.argsort(-exact, kind="stable")
    return [(ids[j], float(exact[j])) for j in order]


def _matrix(ws: Workspace, space, ids: list[int]) -> np.ndarray:  # noqa: ANN001
    """The catalog vectors of `ids` in `space`, one row each, in the given order."""
    stored = stored_vectors(ws, space, ids)
    return np.stack([stored[i] for i in ids])


def _page(ws: Workspace, found: list[tuple[int, float]], collapse: bool, threshold: float | None,
          offset: int, want: int) -> list[Folded]:
    """The requested slice of the ranking, near-duplicates folded first when asked."""
    folded = fold_duplicates(ws, found, threshold) if collapse else [Folded(i, s) for i, s in found]
    return folded[offset:want]


def _check_page(k: int, offset: int, collapse_threshold: float | None) -> None:
    """Bounds of a search request (indexer.limits), checked before any vector is read or allocated."""
    check_k(k, offset)
    if collapse_threshold is not None:
        check_fraction(collapse_threshold, "the collapse threshold (a content cosine)", -1.0, 1.0)
