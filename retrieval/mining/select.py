"""The selection rule of PARASOL's cross-modal mining, on arrays only (so it is testable and fast).

For each training image x and its top-k candidates in one space (ranked by `primary` similarity), keep
the nearest candidate whose similarity to x in the *other* space (`cross`) is at most `ceiling`: the
style image s must not share x's content, the content image y must not share x's style.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Picks:
    ids: np.ndarray      # (Q,) int64, -1 where no candidate survived
    primary: np.ndarray  # (Q,) float32 similarity in the searched space (NaN where none)
    cross: np.ndarray    # (Q,) float32 similarity in the other space (NaN where none)


def pick_nearest_under_ceiling(candidates: np.ndarray, primary: np.ndarray, cross: np.ndarray, ceiling: float,
                               exclude: np.ndarray | None = None) -> Picks:
    """candidates/primary/cross: (Q, k), rows sorted best first, -1 ids for padding.
    exclude: (Q,) ids that may not be picked for their row (x itself), or None."""
    ok = (candidates >= 0) & (cross <= ceiling)
    if exclude is not None:
        ok &= candidates != exclude[:, None]
    has = ok.any(axis=1)
    first = np.argmax(ok, axis=1)  # first True = best surviving rank
    rows = np.arange(len(candidates))
    ids = np.where(has, candidates[rows, first], -1).astype(np.int64)
    nan = np.float32(np.nan)
    return Picks(ids, np.where(has, primary[rows, first], nan).astype(np.float32),
                 np.where(has, cross[rows, first], nan).astype(np.float32))


class VectorTable:
    """id -> vector lookups for many ids at once (sorted ids + searchsorted)."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray):
        order = np.argsort(ids)
        self.ids = np.asarray(ids, np.int64)[order]
        self.vectors = np.asarray(vectors, np.float32)[order]

    def rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vectors for ids, found mask); missing or -1 ids give zero vectors and False."""
        flat = ids.reshape(-1)
        pos = np.clip(np.searchsorted(self.ids, flat), 0, max(len(self.ids) - 1, 0))
        found = (len(self.ids) > 0) & (self.ids[pos] == flat) if len(self.ids) else np.zeros(flat.shape, bool)
        out = np.zeros((len(flat), self.vectors.shape[1]), np.float32)
        out[found] = self.vectors[pos[found]]
        return out.reshape(*ids.shape, -1), found.reshape(ids.shape)


def cross_similarity(x_other: np.ndarray, candidates: np.ndarray, table: VectorTable) -> np.ndarray:
    """(Q, k) cosine between each x's vector in the other space and its candidates' vectors there;
    +inf for padding or unknown candidates, so they can never pass a ceiling."""
    vecs, found = table.rows(candidates)
    sims = np.einsum("qd,qkd->qk", x_other, vecs)
    return np.where(found, sims, np.inf).astype(np.float32)
