"""`OnDiskIndex`: a read-only, memory-mapped IVF / IVF-PQ index built by `sharded_build.build_ondisk`.

Opening reads only the small `index.faiss` (quantizer, PQ tables, list offsets) and maps `lists.ivfdata`
and `ids.npy`; a query touches the nprobe lists it scans, so a cold process answers without reading the
whole index. `search` has `VectorIndex.search`'s interface and semantics (padding with -1 / -inf|+inf,
allow and exclude applied before the top-k, small allow-lists searched exactly). For IVF-PQ, with a
`lookup` (ids -> float32 vectors, e.g. the memory-mapped vector store), the k * refine_factor PQ
candidates are re-ranked with exact scores: recall@10 ~0.5 without, >= 0.95 with (tests, bench_scale.py).
Without a lookup, small allow-lists go through faiss selectors too (the codes cannot be reconstructed
without a direct map, which an on-disk index does not keep).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable

import faiss
import numpy as np

from . import faiss_ops as ops
from .faiss_index import EXACT_SUBSET_MAX, _as_ids
from .index_facts import IndexFacts, described_choice, search_call, sorted_member
from .ondisk_files import IDS_FILE, INDEX_FILE, check_files, faiss_quiet, read_manifest
from .selection import IndexChoice
from .storage import IndexFileError

Lookup = Callable[[np.ndarray], np.ndarray]  # sorted unique int64 ids -> float32 (n, dim)
RERANK_ROWS = 256  # query rows re-ranked at a time: bounds the (rows, k * factor, dim) gather


class OnDiskIndex(IndexFacts):
    """A memory-mapped on-disk index; see the module docstring. Concurrent searches are fine."""

    def __init__(self, folder: Path, index: faiss.Index, manifest: dict[str, Any], ids: np.ndarray,
                 lookup: Lookup | None, refine_factor: int) -> None:
        """Use `OnDiskIndex.open`."""
        self._folder, self._index, self._manifest, self._ids = folder, index, manifest, ids
        self._choice = IndexChoice.from_dict(manifest["choice"])
        self._lookup, self._refine = lookup, refine_factor

    @classmethod
    def open(cls, folder: str | os.PathLike[str], *, lookup: Lookup | None = None,
             refine_factor: int | None = None) -> "OnDiskIndex":
        """Open `folder` (sizes and small-file checksums checked; IndexFileError if missing or corrupt).

        `refine_factor`: candidates re-ranked per result with `lookup` (default: the choice's, 10 for PQ)."""
        folder = Path(folder)
        manifest = read_manifest(folder)
        check_files(folder, manifest)
        try:
            with faiss_quiet():
                index = faiss.read_index(str(folder / INDEX_FILE), faiss.IO_FLAG_ONDISK_SAME_DIR)
            ids = np.load(folder / IDS_FILE, mmap_mode="r")
        except (RuntimeError, ValueError, OSError) as exc:
            raise IndexFileError(f"cannot open the on-disk index {folder}: {exc}") from exc
        choice = described_choice(index, manifest, folder, "manifest")
        if ids.shape != (int(index.ntotal),) or ids.dtype != np.int64:
            raise IndexFileError(f"{folder}: {IDS_FILE} holds {ids.dtype} {ids.shape} for {index.ntotal} vectors")
        ops.apply_search_params(index, choice)
        if refine_factor is None:
            refine_factor = int(choice.extra.get("refine_factor", 0))
        return cls(folder, index, manifest, ids, lookup, max(0, int(refine_factor)))

    def verify(self) -> None:
        """Hash every file, the inverted lists included (~1.7 s per GB); IndexFileError on a mismatch."""
        check_files(self._folder, self._manifest, full=True)

    # ---------------------------------------------------------------- properties
    @property
    def path(self) -> Path:
        return self._folder

    @property
    def manifest(self) -> dict[str, Any]:
        """What the build recorded (see `ondisk_files`): header, choice and the data files' sizes and hashes."""
        return dict(self._manifest)

    @property
    def exact_scores(self) -> bool:
        """IVF-Flat, or IVF-PQ whose candidates are re-ranked with the stored vectors."""
        return self.kind != "ivfpq" or self.refine_factor > 0

    @property
    def refine_factor(self) -> int:
        """Candidates per result re-ranked exactly (0: no re-ranking, or no lookup to do it with)."""
        return self._refine if self._lookup is not None else 0

    @property
    def faiss_index(self) -> faiss.Index:
        return self._index

    def ids(self) -> np.ndarray:
        """Sorted int64 ids in the index (a read-only memory map)."""
        return self._ids

    def contains(self, ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """Boolean mask: which of `ids` are present (binary search in the mapped sidecar)."""
        return sorted_member(_as_ids(ids, unique=False), self._ids)

    # ---------------------------------------------------------------- search
    def search(self, queries: np.ndarray, k: int, *, exclude: Iterable[int] | np.ndarray | None = None,
               allow: Iterable[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest ids per query row: (scores (Q,k) float32, ids (Q,k) int64); `VectorIndex.search`'s rules."""
        call = search_call(self, queries, k, exclude, allow)
        q, allowed, excluded = call.queries, call.allowed, call.excluded
        if call.nothing_to_find or self.ntotal == 0:
            return call.scores, call.labels
        ops.set_query_parallelism(self._index, len(q))
        if allowed is not None and len(allowed) <= EXACT_SUBSET_MAX and self._lookup is not None:
            dist, found = ops.exact_search_fetched(q, k, allowed, self._fetch, self._index.metric_type)
        else:
            dist, found = self._ann_search(q, k, allowed, excluded)
        return call.answer(dist, found)

    def _ann_search(self, q: np.ndarray, k: int, allowed: np.ndarray | None,
                    excluded: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """IVF search of k * refine_factor candidates (selector-filtered), re-ranked, short rows completed."""
        fetch_k = k * self.refine_factor if self.refine_factor > 1 else k
        if allowed is not None or (excluded is not None and len(excluded)):
            selector, keep = ops.id_selector(allowed if allowed is not None else excluded, invert=allowed is None)
            params = ops.search_params(self._index, self._choice, selector)
            dist, found = self._index.search(q, fetch_k, params=params)
            del keep
        else:
            dist, found = self._index.search(q, fetch_k)
        if self.refine_factor:
            dist, found = self._rerank(q, dist, found, k)
        dist, found = dist[:, :k], found[:, :k]
        if allowed is not None and self._lookup is not None:
            short = np.flatnonzero((found >= 0).sum(1) < min(k, len(allowed)))
            if len(short):
                exact = ops.exact_search_fetched(q[short], k, allowed, self._fetch, self._index.metric_type)
                dist, found = dist.copy(), found.copy()
                width = exact[1].shape[1]
                dist[short, :width], found[short, :width] = exact
                dist[short, width:], found[short, width:] = 0, -1
        return dist, found

    def _rerank(self, q: np.ndarray, dist: np.ndarray, found: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact scores for the candidates (looked up once for all rows), best first; -1 stays last."""
        uniq = np.unique(found[found >= 0])
        if not len(uniq):
            return dist, found
        vectors = self._fetch(uniq)
        ip = self._index.metric_type == faiss.METRIC_INNER_PRODUCT
        out_d, out_i = np.empty_like(dist), np.empty_like(found)
        for start in range(0, len(q), RERANK_ROWS):
            rows = slice(start, start + RERANK_ROWS)
            cand = found[rows]
            gathered = vectors[np.searchsorted(uniq, np.maximum(cand, 0))]  # (r, kk, dim)
            exact = np.einsum("rkd,rd->rk", gathered, q[rows])
            if not ip:
                exact = (gathered ** 2).sum(-1) - 2 * exact + (q[rows] ** 2).sum(-1)[:, None]
            gone = (cand < 0) | ~np.isfinite(exact)  # no candidate, or a vector the lookup no longer has
            cand = np.where(gone, -1, cand)
            key = np.where(gone, np.inf, -exact if ip else exact)
            order = np.argsort(key, axis=1, kind="stable")
            out_d[rows] = np.take_along_axis(exact, order, 1)
            out_i[rows] = np.take_along_axis(cand, order, 1)
        return out_d, out_i

    def _fetch(self, ids: np.ndarray) -> np.ndarray:
        """`lookup(ids)` checked: float32 (len(ids), dim)."""
        assert self._lookup is not None
        vectors = np.ascontiguousarray(self._lookup(ids), dtype=np.float32)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"vector lookup returned shape {vectors.shape} for {len(ids)} ids of dim {self.dim}")
        return vectors

    def __repr__(self) -> str:
        return (f"OnDiskIndex(kind={self.kind!r}, factory={self.factory!r}, dim={self.dim}, ntotal={self.ntotal}, "
                f"path={str(self._folder)!r})")

