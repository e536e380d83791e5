"""`VectorSource`: a re-iterable stream of (ids, vectors) chunks, the input of the sharded on-disk build.

The build never asks for all vectors at once: it reads `chunks(chunk_rows)` (a fresh iterator per call,
each chunk at most `chunk_rows` rows) and draws a bounded training sample. The vector store supplies
`chunks` (e.g. `lambda rows: iter_vectors(ws, space, rows)`) and, when it can read rows by position
cheaply, `sample`; otherwise `draw_sample` picks seeded positions and collects them in one streaming pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

Chunk = tuple[np.ndarray, np.ndarray]  # (ids int64 (n,), vectors float32 (n, dim))


@dataclass(frozen=True)
class VectorSource:
    """`count` vectors of `dim` floats, read as chunks; `sample(n, seed)` optional (see module doc)."""

    chunks: Callable[[int], Iterator[Chunk]]
    count: int
    dim: int
    sample: Callable[[int, int], np.ndarray] | None = None

    @classmethod
    def from_arrays(cls, ids: np.ndarray, vectors: np.ndarray) -> "VectorSource":
        """A source over in-memory or memory-mapped arrays (a memmap is read one chunk at a time)."""
        ids = np.asarray(ids)
        if vectors.ndim != 2 or len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for vectors of shape {vectors.shape}")

        def chunks(rows: int) -> Iterator[Chunk]:
            for start in range(0, len(ids), rows):
                yield (np.ascontiguousarray(ids[start:start + rows], dtype=np.int64),
                       np.ascontiguousarray(vectors[start:start + rows], dtype=np.float32))

        def sample(n: int, seed: int) -> np.ndarray:
            return np.ascontiguousarray(vectors[sample_positions(len(ids), n, seed)], dtype=np.float32)

        return cls(chunks, len(ids), int(vectors.shape[1]), sample)

    def draw_sample(self, n: int, seed: int, chunk_rows: int = 65536) -> np.ndarray:
        """min(n, count) seeded rows as float32 (n, dim): `sample` if given, else one pass over chunks."""
        n = min(n, self.count)
        if self.sample is not None:
            out = np.ascontiguousarray(self.sample(n, seed), dtype=np.float32)
            if out.shape != (n, self.dim):
                raise ValueError(f"sample({n}, {seed}) returned shape {out.shape}, expected {(n, self.dim)}")
            return out
        wanted, out, filled, start = sample_positions(self.count, n, seed), np.empty((n, self.dim), np.float32), 0, 0
        for _, vectors in self.chunks(chunk_rows):
            stop = start + len(vectors)
            lo, hi = np.searchsorted(wanted, [start, stop])
            out[filled:filled + hi - lo] = vectors[wanted[lo:hi] - start]
            filled, start = filled + hi - lo, stop
        if filled != n:
            raise ValueError(f"the source said {self.count} vectors but its chunks held {start}")
        return out


def sample_positions(count: int, n: int, seed: int) -> np.ndarray:
    """Sorted seeded positions, n of range(count) without repetition (all when n >= count)."""
    if n >= count:
        return np.arange(count, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(count, n, replace=False)).astype(np.int64)
