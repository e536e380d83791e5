"""`LayeredIndex`: a space's index as BASE snapshot + DELTA of recent changes + TOMBSTONES.

Why: rewriting (and re-hashing) a whole snapshot on every indexing run makes a 100-image run cost as much
as the corpus is large, and deleting one id from an HNSW graph rebuilds the graph. Here the base is
never touched by a small run:

* BASE - the current snapshot, any object with `VectorIndex`'s read interface (`search(queries, k, *,
  exclude, allow)`, `ids()`, `contains()`, `ntotal`, `dim`, `kind`, `factory`, `metric`, `choice`): a
  loaded `VectorIndex` today, a memory-mapped on-disk IVF index for large spaces (duck-typed);
* DELTA - the current vectors of the ids added or replaced since the base, held in memory and searched
  exactly (`faiss.knn`; its size is bounded by the fold policy);
* TOMBSTONES - base ids removed or replaced since the base, never returned from the base.

`search` has exactly `VectorIndex.search`'s contract (padding, allow-lists, exclude) over the live set
(base minus tombstones, plus delta): the base is searched with the tombstones excluded, the delta exactly,
and the two top-k lists are merged by score. With an exact (flat) base the result is exactly what a fresh
full build returns; with an ANN base it is the base's ANN answer restricted to live ids, merged with the
exact delta. `fold_reason` says when the delta should be folded into a new base (`index_sync.checkpoint`):
that bounds the delta (search cost, log size) and the tombstones, so the HNSW graph rebuild a deletion
needs is paid once per fold, amortised over many runs, never at delete time.
"""
from __future__ import annotations

from typing import Any, Iterable, Protocol

import faiss
import numpy as np

from .faiss_index import _as_ids, _as_vectors
from .index_facts import empty_answer, sorted_member
from .selection import METRICS, IndexChoice

DELTA_FRACTION = 0.10  # fold when the delta holds more than this fraction of the base ...
DELTA_MIN = 256  # ... but never for fewer vectors than this (small workspaces fold at this size)
DELTA_MAX = 50_000  # ... and always past this many (an exact scan of 50k x 1280-d is ~30 ms per query here)
TOMBSTONE_FRACTION = 0.20  # fold when this fraction of the base is dead (HNSW: the graph rebuild, amortised)


class BaseIndex(Protocol):
    """What a layered index needs from its base (VectorIndex, or an on-disk index with the same reads)."""

    dim: int
    ntotal: int
    kind: str
    factory: str
    metric: str
    choice: IndexChoice
    exact_scores: bool

    def ids(self) -> np.ndarray: ...

    def contains(self, ids: Iterable[int] | np.ndarray) -> np.ndarray: ...

    def search(self, queries: np.ndarray, k: int, *, exclude: Any = None,
               allow: Any = None) -> tuple[np.ndarray, np.ndarray]: ...


def fold_reason(base_n: int, delta_n: int, dead_n: int) -> str | None:
    """Why the delta should now be folded into a new base, or None to keep the base as it is.

    `delta_n`: vectors added or replaced since the base; `dead_n`: base vectors removed or replaced (an
    upper bound is fine). A delta past max(DELTA_MIN, DELTA_FRACTION * base) or past DELTA_MAX folds; so do
    tombstones past TOMBSTONE_FRACTION of the base (for HNSW the fold is where the graph is rebuilt)."""
    if delta_n > DELTA_MAX:
        return f"delta of {delta_n} vectors > {DELTA_MAX}"
    if delta_n > max(DELTA_MIN, DELTA_FRACTION * base_n):
        return f"delta of {delta_n} vectors > {DELTA_FRACTION:.0%} of the base ({base_n})"
    if dead_n and dead_n > max(DELTA_MIN, TOMBSTONE_FRACTION * base_n):
        return f"{dead_n} removed or replaced vectors > {TOMBSTONE_FRACTION:.0%} of the base ({base_n})"
    return None


class LayeredIndex:
    """Base + delta + tombstones behind `VectorIndex`'s read interface (see the module docstring).

    Immutable once made: a refreshed view is a new LayeredIndex sharing the same base object, so threads
    searching the old one are never disturbed."""

    def __init__(self, base: BaseIndex, delta_ids: np.ndarray | None = None, delta_vectors: np.ndarray | None = None,
                 tombstones: Iterable[int] | np.ndarray | None = None, *, base_file: str | None = None) -> None:
        """`tombstones`: ids whose base entry is dead (removed or replaced); ids absent from the base are
        ignored. `delta_*`: the current vectors of added or replaced ids. `base_file`: the snapshot file the
        base was read from (lets a cache keep the base when only the log grew)."""
        self.base = base
        self.base_file = base_file
        ids = _as_ids(delta_ids if delta_ids is not None else [])
        vecs = _as_vectors(delta_vectors if delta_vectors is not None else np.empty((0, base.dim), np.float32),
                           base.dim)
        if len(ids) != len(vecs):
            raise ValueError(f"{len(ids)} delta ids but {len(vecs)} vectors")
        order = np.argsort(ids)
        self._delta_ids, self._delta_vecs = _frozen(ids[order]), _frozen(vecs[order])
        dead = np.unique(_as_ids(tombstones if tombstones is not None else [], unique=False))
        self.tombstones = _frozen(dead[base.contains(dead)] if len(dead) else dead)
        self._ids: np.ndarray | None = None

    # ---------------------------------------------------------------- the read interface of VectorIndex
    @property
    def dim(self) -> int:
        return int(self.base.dim)

    @property
    def ntotal(self) -> int:
        return int(self.base.ntotal) - len(self.tombstones) + len(self._delta_ids)

    def __len__(self) -> int:
        return self.ntotal

    @property
    def kind(self) -> str:
        return self.base.kind

    @property
    def factory(self) -> str:
        return self.base.factory

    @property
    def metric(self) -> str:
        return self.base.metric

    @property
    def choice(self) -> IndexChoice:
        return self.base.choice

    @property
    def exact_scores(self) -> bool:
        return bool(self.base.exact_scores)  # the delta is searched exactly

    @property
    def faiss_index(self) -> Any:
        """The base's FAISS index (read-only use; the delta and tombstones are not in it)."""
        return self.base.faiss_index

    def ids(self) -> np.ndarray:
        """Sorted live ids (base minus tombstones, plus delta), read-only; computed once."""
        if self._ids is None:  # O(N) copies guided by binary search: the base (millions) is sorted already
            base = np.asarray(self.base.ids())
            if len(self.tombstones):  # tombstones are base ids (see __init__)
                base = np.delete(base, np.searchsorted(base, self.tombstones))
            live = np.insert(base, np.searchsorted(base, self._delta_ids), self._delta_ids) \
                if len(self._delta_ids) else np.array(base, copy=True)
            live.flags.writeable = False
            self._ids = live
        return self._ids

    def contains(self, ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """Boolean mask: which of `ids` are live."""
        query = _as_ids(ids, unique=False)
        in_base = self.base.contains(query)
        if len(self.tombstones):
            in_base &= ~sorted_member(query, self.tombstones)
        return in_base | sorted_member(query, self._delta_ids)

    @property
    def pending(self) -> int:
        """Delta vectors plus tombstones: how far this view is from its base."""
        return len(self._delta_ids) + len(self.tombstones)

    def search(self, queries: np.ndarray, k: int, *, exclude: Iterable[int] | np.ndarray | None = None,
               allow: Iterable[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`VectorIndex.search` over the live ids: (scores (Q,k) float32, ids (Q,k) int64), padded with -1 and
        -inf ("ip") / +inf ("l2"). The base never answers a tombstoned id; the delta is searched exactly."""
        if not self.pending:
            return self.base.search(queries, k, exclude=exclude, allow=allow)
        allowed = None if allow is None else _as_ids(allow, unique=False)
        base_allow, base_exclude = allowed, exclude
        if len(self.tombstones):
            if allowed is not None:
                base_allow = np.setdiff1d(allowed, self.tombstones)
            else:
                extra = np.empty(0, np.int64) if exclude is None else _as_ids(exclude, unique=False)
                base_exclude = np.union1d(self.tombstones, extra)
        s_base, i_base = self.base.search(queries, k, exclude=base_exclude, allow=base_allow)
        if not len(self._delta_ids):
            return s_base, i_base
        s_delta, i_delta = self._search_delta(_as_vectors(queries, self.dim, name="queries"), k, exclude, allowed)
        return merge_top_k(s_base, i_base, s_delta, i_delta, k, self.metric)

    def _search_delta(self, q: np.ndarray, k: int, exclude: Iterable[int] | np.ndarray | None,
                      allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the (allowed, not excluded) delta vectors."""
        rows = np.ones(len(self._delta_ids), dtype=bool)
        if allowed is not None:
            rows &= np.isin(self._delta_ids, allowed)
        if exclude is not None:
            rows &= ~np.isin(self._delta_ids, _as_ids(exclude, unique=False))
        ids, vecs = self._delta_ids[rows], self._delta_vecs[rows]
        scores, labels = empty_answer(len(q), k, self.metric)
        if not len(ids) or not len(q):
            return scores, labels
        kk = min(k, len(ids))
        # faiss's exact kNN: the same OpenMP pool as the base's search (a BLAS pool beside it thrashes 2 cores)
        dist, pos = faiss.knn(q, vecs, kk, metric=METRICS[self.metric])
        scores[:, :kk], labels[:, :kk] = dist, np.where(pos >= 0, ids[np.maximum(pos, 0)], -1)
        return scores, labels

    def __repr__(self) -> str:
        return (f"LayeredIndex(base={self.base!r}, delta={len(self._delta_ids)}, tombstones={len(self.tombstones)}, "
                f"file={self.base_file!r})")


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.flags.writeable = False
    return arr


def merge_top_k(s1: np.ndarray, i1: np.ndarray, s2: np.ndarray, i2: np.ndarray, k: int,
                metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Best k per row of two result lists over disjoint id sets (padding -1 sorts last)."""
    scores = np.concatenate([s1, s2], axis=1)
    ids = np.concatenate([i1, i2], axis=1)
    key = -scores.astype(np.float64) if metric == "ip" else scores.astype(np.float64)
    key[ids < 0] = np.inf
    order = np.argsort(key, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
