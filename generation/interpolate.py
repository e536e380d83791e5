"""Interpolation strips: the same content and seed, rendered along a path between styles.

The path visits the styles in the order given. With 2 styles, step i of `steps` has weights
(1 - t, t) at t = i / (steps - 1). With n > 2 styles the path is piecewise A -> B -> C ...: `steps` points
in total, evenly spaced over the n - 1 segments, position u = i * (n - 1) / (steps - 1); point i lies on
segment j = floor(u) (the last point closes the last segment) with weights (1 - t, t) on styles j and j + 1,
t = u - j, and 0 elsewhere. The path passes exactly through style k when (steps - 1) is a multiple of
(n - 1), e.g. steps = 2n - 1; the endpoints are always exactly one-hot.

Zero-weight styles are left out of a step's call, so the endpoints ARE the single-style runs (same
stylizer, content, params and seed, one style of weight 1), bit for bit. The styles' own weights are
replaced by the path's.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from indexer.vectors.interpolation import path_weights

from .base import ContentRef, ProgressCallback, StyleRef, StylizeError, Stylizer, StylizeResult

Weights = tuple[float, ...]


def interpolation_weights(n_styles: int, steps: int) -> list[Weights]:
    """The per-step style weights of the path described in the module docstring (each row sums to 1)."""
    try:
        return path_weights(n_styles, steps)
    except ValueError as exc:
        raise StylizeError(str(exc).replace("anchors", "styles")) from exc


def interpolation_strip(stylizer: Stylizer, content: ContentRef, styles: Sequence[StyleRef], steps: int,
                        params: Any = None, seed: int = 0, *, weights: Sequence[Sequence[float]] | None = None,
                        progress: bool | None = None,
                        on_step: Callable[[int, int], None] | None = None,
                        on_progress: ProgressCallback | None = None) -> list[StylizeResult]:
    """One `stylize` call per step, same content, params and seed, styles reweighted along the path.

    `weights` replaces the computed path (one row per step, one weight per style), e.g. to replay a
    recorded strip. `progress`: None shows a bar only on a terminal. `on_step(done, total)` is called
    after every step (e.g. by the Studio's progress bar); `on_progress` gets every denoising step of every
    image with its ETA (`generation.base.ProgressEvent`).
    """
    rows = [tuple(float(w) for w in row) for row in weights] if weights is not None else \
        interpolation_weights(len(styles), steps)
    if any(len(row) != len(styles) for row in rows):
        raise StylizeError(f"each step needs one weight per style ({len(styles)})")
    results = []
    bar = tqdm(rows, unit="step", desc=f"interpolating ({stylizer.name})",
               disable=None if progress is None else not progress)
    for row in bar:
        step_styles = [dataclasses.replace(s, weight=w) for s, w in zip(styles, row) if w > 0]
        results.append(stylizer.stylize(content, step_styles, params, seed, on_progress=on_progress))
        if on_step is not None:
            on_step(len(results), len(rows))
    return results
