"""Evenly spaced points along a piecewise path through anchors A -> B -> C ...

Both interpolation strips (generation: weights over style images) and the retrieval-only refine (slerp
between style vectors) walk this same path, so a generated strip and a retrieved one line up step for step.
"""
from __future__ import annotations

from fractions import Fraction

from ..limits import MAX_PATH_STEPS, check_int


def path_positions(n_anchors: int, steps: int) -> list[tuple[int, float]]:
    """(segment j, t in [0, 1]) of each of `steps` points evenly spaced along anchors 0 -> 1 -> ... -> n-1.

    Position u = i * (n - 1) / (steps - 1), computed exactly, so segment boundaries land exactly on
    anchors (t == 0.0 there) and the last point closes the last segment (t == 1.0). The path passes
    through every anchor when (steps - 1) is a multiple of (n - 1), e.g. steps = 2n - 1.
    """
    if n_anchors < 2:
        raise ValueError(f"an interpolation path needs at least 2 anchors, got {n_anchors}")
    if steps < 2:
        raise ValueError(f"an interpolation path needs at least 2 steps, got {steps}")
    check_int(steps, "the number of steps", 2, MAX_PATH_STEPS)
    out = []
    for i in range(steps):
        u = Fraction(i * (n_anchors - 1), steps - 1)
        j = min(int(u), n_anchors - 2)
        out.append((j, float(u - j)))
    return out


def path_weights(n_anchors: int, steps: int) -> list[tuple[float, ...]]:
    """One row of anchor weights per point: (1 - t, t) on anchors j, j + 1 and exactly 0 elsewhere."""
    rows = []
    for j, t in path_positions(n_anchors, steps):
        row = [0.0] * n_anchors
        row[j], row[j + 1] = 1.0 - t, t
        rows.append(tuple(row))
    return rows
