"""Seeded synthetic images for the generation tests: content that differs by seed, with structure a model
can react to, and nothing to download."""
from __future__ import annotations

import numpy as np
from PIL import Image

RGB = tuple[int, int, int]


def noise_with_square(seed: int, size: tuple[int, int] = (40, 40), colour: RGB = (230, 40, 40)) -> Image.Image:
    """Uniform RGB noise of `size` (width, height) with a solid `colour` square over its central half."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    arr[size[1] // 4: 3 * size[1] // 4, size[0] // 4: 3 * size[0] // 4] = colour
    return Image.fromarray(arr)


def smooth_noise(seed: int, size: tuple[int, int] = (40, 40)) -> Image.Image:
    """A 4x4 grid of random colours bilinearly resized to `size`: smooth, face-free, seed-dependent."""
    low = np.random.default_rng(seed).integers(0, 255, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(low).resize(size, Image.Resampling.BILINEAR)
