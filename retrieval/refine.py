"""Retrieval-only refinement along the style axis: walk from one style exemplar to the next on the unit
sphere of the style space and search again at every step ("more like A ... more like B").

Exemplars are style vectors of catalog images (`12` or `id:12`), image files, or any query expression
`parse_query` reads (so a style described in words works too, through exemplars). The path visits them in
order with `steps` points in total, spaced like `generation.interpolate.interpolation_weights` (same
(segment, t) positions, so a retrieved strip and a generated one line up step for step); between two
exemplars the vector is their spherical interpolation (slerp), which stays on the unit sphere where the
index's cosine scores live, unlike a straight blend. Step 0 is exactly exemplar A's vector, the last step
exactly the last exemplar's.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.encoders.base import l2_normalize
from indexer.spaces import get_space
from indexer.vectors.interpolation import path_positions, path_weights
from indexer.workspace import Workspace

from .embed import query_vector
from .query import QueryError, QueryTerm, parse_query
from .search import SearchHit, search

_PARALLEL = 1e-6  # radians: closer than this, slerp is a plain (normalised) blend


@dataclass
class RefineStep:
    """One step of the walk: the exemplars' weights (path position), the query vector and its results."""

    step: int
    weights: list[float]
    vector: np.ndarray
    hits: list[SearchHit]

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "weights": self.weights, "hits": [h.to_dict() for h in self.hits]}


def exemplar_terms(spec: str | int) -> list[QueryTerm]:
    """Query terms of one exemplar: an existing file, a catalog id (`12` or `id:12`), or a query expression."""
    text = str(spec).strip()
    if isinstance(spec, int) or (text.isdigit() and not os.path.isfile(text)):
        return [QueryTerm("id", int(text))]
    return parse_query(text)


def exemplar_vectors(ws: Workspace, exemplars: Sequence[str | int], *, space: str = "style",
                     corpora: list[str] | None = None) -> np.ndarray:
    """One unit vector per exemplar in `space` (rows), through the search's own query embedding."""
    sp = get_space(ws, space)
    return np.stack([query_vector(ws, sp, exemplar_terms(e), corpora=corpora) for e in exemplars])


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between unit vectors `a` (t = 0, returned exactly) and `b` (t = 1)."""
    if t <= 0.0:
        return np.array(a, dtype=np.float32)
    if t >= 1.0:
        return np.array(b, dtype=np.float32)
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    omega = float(np.arccos(np.clip(a64 @ b64, -1.0, 1.0)))
    if omega < _PARALLEL:
        mixed = (1 - t) * a64 + t * b64
    elif np.pi - omega < _PARALLEL:
        raise QueryError("two exemplars point in opposite directions; the path between them is undefined")
    else:
        mixed = (np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)
    return l2_normalize(mixed)


def slerp_path(vectors: np.ndarray, steps: int) -> list[tuple[list[float], np.ndarray]]:
    """(weights over the anchors, unit vector) at each point of the piecewise slerp path."""
    try:
        positions, weights = path_positions(len(vectors), steps), path_weights(len(vectors), steps)
    except ValueError as exc:
        raise QueryError(f"refining along the style axis: {str(exc).replace('anchors', 'exemplars')}") from exc
    return [(list(row), slerp(vectors[j], vectors[j + 1], t)) for (j, t), row in zip(positions, weights)]


def refine_strip(ws: Workspace, exemplars: Sequence[str | int], steps: int, *, k: int = 10, space: str = "style",
                 corpora: list[str] | None = None, collapse: bool = True) -> list[RefineStep]:
    """Search `space` at each point of the slerp path through the exemplars' vectors (reusing `search`)."""
    vectors = exemplar_vectors(ws, exemplars, space=space, corpora=corpora)
    return [RefineStep(i, weights, vec, search(ws, [QueryTerm("vector", vec)], space=space, k=k, corpora=corpora,
                                               collapse=collapse))
            for i, (weights, vec) in enumerate(slerp_path(vectors, steps))]
