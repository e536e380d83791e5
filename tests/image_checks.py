"""Comparing uint8 images that come from two different float computations of the same value.

Two computations that agree to float rounding (another GEMM kernel for another batch size or memory
alignment, a vector renormalised on the way in, a checkpoint read through another loader) give floats a few
ulps apart (float32 eps ~1.2e-7 relative); rounding them to uint8 moves a pixel by one level only where the
float sits that close to a rounding boundary, so a handful of pixels may move by exactly one level and the
rest are equal. A real bug (other weights, another code, a dropped row) moves many pixels or moves them
further. Same computation, same machine (regenerate, a seeded repeat): compare bytes, not this.
"""
from __future__ import annotations

import numpy as np
from PIL import Image


def assert_images_close(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray, *, levels: int = 1,
                        fraction: float = 0.01) -> None:
    """At most `levels` apart everywhere, and at most `fraction` of the values differ at all."""
    x, y = np.asarray(a).astype(np.int16), np.asarray(b).astype(np.int16)
    assert x.shape == y.shape, (x.shape, y.shape)
    diff = np.abs(x - y)
    worst, moved = int(diff.max()), float((diff > 0).mean())
    assert worst <= levels and moved <= fraction, f"max {worst} levels apart, {moved:.2%} of the values differ"
