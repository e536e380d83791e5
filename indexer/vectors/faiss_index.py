"""`VectorIndex`: one FAISS index for one embedding space, keyed by catalog image ids (int64).

Vectors are expected L2-normalised float32 (the catalog keeps them as the source of truth); with the
"ip" metric scores are cosine similarities, higher is better; with "l2" they are squared distances.

Guarantees, for every kind (flat, hnsw, ivf, ivfpq):
* an id is stored at most once: `add` refuses ids already present, `upsert` replaces them;
* `remove` works everywhere. Flat (IndexIDMap2) and IVF delete natively; HNSW, which faiss cannot
  delete from, is rebuilt from its own stored vectors without the removed ids (cost of a fresh build,
  which `selection.HNSW_MAX_VECTORS` keeps to ~30 s). `index_sync` calls it only when it folds a
  delta into a new snapshot: a deleted file is a tombstone of the `layered.LayeredIndex` until then;
* `ids()` lists exactly what the index holds; removed ids are never returned by `search`.
Not thread-safe for concurrent mutation; concurrent searches on an unchanging index are fine.
"""
from __future__ import annotations

import os
from typing import Iterable

import faiss
import numpy as np

from . import faiss_ops as ops
from .index_facts import IndexFacts, described_choice, search_call, sorted_member
from .gpu import GPU_MAX_K, gpu_available, to_gpu
from .selection import IndexChoice, choose_index, parse_override
from .storage import IndexFileError, load_index, save_index

FILE_KIND = "stylelens.vector_index"
EXACT_SUBSET_MAX = 16384  # 16k x 512-d exact scan ~2.5 ms here, and never misses an allowed id


class VectorIndex(IndexFacts):
    """A FAISS index plus the choice that built it; see the module docstring for guarantees."""

    def __init__(self, index: faiss.Index, choice: IndexChoice) -> None:
        """Wrap an index made by `faiss_ops.make_index` (use `build` or `load` instead)."""
        self._index = index
        self._choice = choice
        self._ids_cache: np.ndarray | None = None
        self._gpu: faiss.Index | None = None
        self._gpu_stale = True

    # ---------------------------------------------------------------- construction
    @classmethod
    def create(
        cls,
        dim: int,
        metric: str = "ip",
        choice_or_factory: IndexChoice | str | None = None,
        train_vectors: np.ndarray | None = None,
        *,
        n_expected: int | None = None,
        seed: int = 0,
    ) -> "VectorIndex":
        """An empty index, trained when its kind needs it (IVF, PQ) on a seeded random sample of
        `choice.train_size` rows of `train_vectors`. Use it to stream vectors in with `add`.

        `choice_or_factory`: an IndexChoice, a faiss factory string (validated by `parse_override`),
        or None to let `choose_index` decide for `n_expected` (default: len(train_vectors)) vectors.
        """
        train = _as_vectors(train_vectors if train_vectors is not None else np.empty((0, dim), np.float32), dim)
        if choice_or_factory is None:
            choice = choose_index(len(train) if n_expected is None else n_expected, dim, metric=metric)
        elif isinstance(choice_or_factory, str):
            choice = parse_override(choice_or_factory, dim, metric)
        else:
            choice = choice_or_factory
        if choice.metric != metric:
            raise ValueError(f"choice is for metric {choice.metric!r}, index asked for {metric!r}")
        index = ops.make_index(dim, choice)
        if not index.is_trained:
            _train(index, train, choice, seed)
        return cls(index, choice)

    @classmethod
    def build(
        cls,
        dim: int,
        metric: str = "ip",
        choice_or_factory: IndexChoice | str | None = None,
        ids: Iterable[int] | np.ndarray | None = None,
        vectors: np.ndarray | None = None,
        *,
        seed: int = 0,
    ) -> "VectorIndex":
        """`create` (training on `vectors` if needed) then `add(ids, vectors)`; deterministic for a seed."""
        ids_arr = _as_ids(ids if ids is not None else [])
        vecs = _as_vectors(vectors if vectors is not None else np.empty((0, dim), np.float32), dim)
        if len(ids_arr) != len(vecs):
            raise ValueError(f"{len(ids_arr)} ids but {len(vecs)} vectors")
        self = cls.create(dim, metric, choice_or_factory, vecs, seed=seed)
        self.add(ids_arr, vecs)
        return self

    # ---------------------------------------------------------------- properties
    @property
    def faiss_index(self) -> faiss.Index:
        """The underlying CPU index (read-only use; mutate through this class)."""
        return self._index

    def ids(self) -> np.ndarray:
        """Sorted int64 ids currently in the index (a read-only array)."""
        if self._ids_cache is None:
            cache = np.sort(ops.list_ids(self._index))
            cache.flags.writeable = False
            self._ids_cache = cache
        return self._ids_cache

    def contains(self, ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """Boolean mask: which of `ids` are present."""
        return sorted_member(_as_ids(ids, unique=False), self.ids())

    # ---------------------------------------------------------------- mutation
    def add(self, ids: Iterable[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add new ids; raises ValueError if any id is already present (use `upsert` to replace)."""
        ids_arr, vecs = self._check_batch(ids, vectors)
        if not len(ids_arr):
            return
        present = ids_arr[self.contains(ids_arr)]
        if len(present):
            raise ValueError(f"{len(present)} ids already in the index (e.g. {present[:5].tolist()}); "
                             "use upsert() to replace their vectors")
        self._index.add_with_ids(vecs, ids_arr)
        self._changed(added=ids_arr)

    def remove(self, ids: Iterable[int] | np.ndarray) -> int:
        """Remove these ids (absent ones are ignored); return how many were removed."""
        ids_arr = _as_ids(ids, unique=False)
        ids_arr = np.unique(ids_arr[self.contains(ids_arr)])
        if not len(ids_arr):
            return 0
        if ops.supports_native_remove(self._index):
            removed = ops.remove_native(self._index, ids_arr)
        else:
            removed = ops.rebuild_without(self._index, ids_arr)
        self._changed(removed=ids_arr)
        return removed

    def upsert(self, ids: Iterable[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace: ids already present get the new vectors (old ones are removed first)."""
        ids_arr, vecs = self._check_batch(ids, vectors)
        if not len(ids_arr):
            return
        present = ids_arr[self.contains(ids_arr)]
        if len(present) and not ops.supports_native_remove(self._index):
            ops.rebuild_without(self._index, present, ids_arr, vecs)  # one rebuild, not two
            self._changed(added=ids_arr[~np.isin(ids_arr, present)])
            return
        self.remove(present)
        self.add(ids_arr, vecs)

    # ---------------------------------------------------------------- search
    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exclude: Iterable[int] | np.ndarray | None = None,
        allow: Iterable[int] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """k nearest ids per query row: (scores (Q,k) float32, ids (Q,k) int64).

        Missing results are padded with id -1 and score -inf ("ip") / +inf ("l2"). `allow` restricts
        results to those ids, `exclude` drops ids; both apply before the top-k is taken. An allow-list
        of at most EXACT_SUBSET_MAX present ids is searched exactly over their stored vectors (an ANN
        walk with a restrictive filter can come back short); larger filters go through faiss selectors,
        and any row that still comes back short is searched again exactly over the allowed vectors.
        """
        call = search_call(self, queries, k, exclude, allow)
        q, allowed, excluded = call.queries, call.allowed, call.excluded
        if call.nothing_to_find or self.ntotal == 0:
            return call.scores, call.labels
        ops.set_query_parallelism(self._index, len(q))
        exact = None
        if allowed is not None and len(allowed) <= EXACT_SUBSET_MAX:
            exact = ops.exact_subset_search(self._index, q, k, allowed)  # None: cannot reconstruct
        if exact is not None:
            dist, found = exact
        elif allowed is not None or (excluded is not None and len(excluded)):
            selector, keep = ops.id_selector(allowed if allowed is not None else excluded,
                                             invert=allowed is None)
            params = ops.search_params(self._index, self._choice, selector)
            dist, found = self._index.search(q, k, params=params)
            del keep
            if allowed is not None:
                dist, found = self._complete_short_rows(q, k, allowed, dist, found)
        else:
            dist, found = self._search_index(k).search(q, k)
        return call.answer(dist, found)

    def _complete_short_rows(self, q: np.ndarray, k: int, allowed: np.ndarray, dist: np.ndarray,
                             found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A filtered HNSW walk or IVF probe can come back with fewer than k allowed ids although
        more exist; those rows are searched again exactly over the allowed vectors."""
        short = np.flatnonzero((found >= 0).sum(1) < min(k, len(allowed)))
        if not len(short):
            return dist, found
        exact = ops.exact_subset_search(self._index, q[short], k, allowed)
        if exact is None:
            return dist, found
        dist, found = dist.copy(), found.copy()
        width = exact[1].shape[1]
        dist[short, :width], found[short, :width] = exact
        dist[short, width:], found[short, width:] = dist.dtype.type(0), -1
        return dist, found

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the CPU index with its choice to `path` atomically (checksummed container)."""
        header = {
            "file_kind": FILE_KIND,
            "dim": self.dim,
            "ntotal": self.ntotal,
            "metric": self.metric,
            "kind": self.kind,
            "choice": self._choice.to_dict(),
            "faiss_version": faiss.__version__,
        }
        save_index(path, self._index, header)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: str = "auto",
             expected_bytes: int | None = None) -> "VectorIndex":
        """Read a file written by `save`; raises IndexFileError if it is missing, corrupt or foreign
        (`verify`, `expected_bytes`: how much is checked first, see `storage`)."""
        index, header = load_index(path, verify=verify, expected_bytes=expected_bytes)
        if header.get("file_kind") != FILE_KIND:
            raise IndexFileError(f"{path} is not a StyleLens vector index ({header.get('file_kind')!r})")
        choice = described_choice(index, header, path, "header")
        ops.apply_search_params(index, choice)
        return cls(index, choice)

    # ---------------------------------------------------------------- internals
    def _check_batch(self, ids: Iterable[int] | np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids_arr = _as_ids(ids)
        vecs = _as_vectors(vectors, self.dim)
        if len(ids_arr) != len(vecs):
            raise ValueError(f"{len(ids_arr)} ids but {len(vecs)} vectors")
        return ids_arr, vecs

    def _changed(self, added: np.ndarray | None = None, removed: np.ndarray | None = None) -> None:
        """Drop the GPU replica; update the sorted id cache in O(n) instead of re-listing faiss."""
        self._gpu, self._gpu_stale = None, True
        cache = self._ids_cache
        if cache is None:
            return
        if removed is not None and len(removed):
            cache = cache[~np.isin(cache, removed, assume_unique=True)]
        if added is not None and len(added):
            new = np.sort(added)
            cache = np.insert(cache, np.searchsorted(cache, new), new)
        cache.flags.writeable = False
        self._ids_cache = cache

    def _search_index(self, k: int) -> faiss.Index:
        """GPU replica for unfiltered searches when a GPU is present, else the CPU index."""
        if k > GPU_MAX_K or not gpu_available():
            return self._index
        if self._gpu_stale:
            self._gpu, self._gpu_stale = to_gpu(self._index, self.kind, self._choice.nprobe), False
        return self._gpu if self._gpu is not None else self._index

    def __repr__(self) -> str:
        return f"VectorIndex(kind={self.kind!r}, factory={self.factory!r}, dim={self.dim}, ntotal={self.ntotal})"


def _train(index: faiss.Index, vectors: np.ndarray, choice: IndexChoice, seed: int) -> None:
    """Train on a seeded sample of `choice.train_size` rows (all rows if 0 or more than available)."""
    if not len(vectors):
        raise ValueError(f"index {choice.factory!r} needs training vectors; build it with data")
    n = len(vectors)
    size = n if choice.train_size <= 0 else min(n, choice.train_size)
    rows = np.sort(np.random.default_rng(seed).choice(n, size, replace=False)) if size < n else slice(None)
    ops.set_training_seed(index, seed)
    try:
        index.train(np.ascontiguousarray(vectors[rows]))
    except RuntimeError as exc:
        raise ValueError(f"cannot train {choice.factory!r} on {size} vectors: "
                         f"{str(exc).strip().splitlines()[-1]}") from exc


def _as_ids(ids: Iterable[int] | np.ndarray, unique: bool = True) -> np.ndarray:
    arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ids must be a 1-D integer array, got dtype {arr.dtype} shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.min() < 0:
        raise ValueError("ids must be >= 0 (-1 marks missing results)")
    if unique and len(np.unique(arr)) != len(arr):
        raise ValueError("duplicate ids in one batch")
    return arr


def _as_vectors(vectors: np.ndarray, dim: int, name: str = "vectors") -> np.ndarray:
    arr = np.asarray(vectors)
    if arr.ndim == 1 and name == "queries":
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"{name} must have shape (n, {dim}), got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return arr
