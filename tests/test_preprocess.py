"""Model-input preprocessing: the uint8/float split, and images of any shape in bounded time and memory."""
from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

import indexer.encoders.preprocess as pp
from indexer.encoders.preprocess import Preprocess

RECIPE = Preprocess(224, resize_to=256, mean=(0.48, 0.46, 0.41), std=(0.27, 0.26, 0.28))


def _noise(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_finish_is_the_documented_normalisation() -> None:
    pixels = np.stack([RECIPE.pixels(_noise(300, 200, s)) for s in range(3)])
    out = RECIPE.finish(pixels)
    ref = ((pixels / 255.0 - np.array(RECIPE.mean)) / np.array(RECIPE.std)).transpose(0, 3, 1, 2)
    assert out.dtype == np.float32 and out.shape == (3, 3, 224, 224) and out.flags["C_CONTIGUOUS"]
    assert np.abs(out - ref).max() < 1e-5
    assert np.array_equal(RECIPE(_noise(300, 200, 0)), out[0])


@pytest.mark.parametrize("size", [(1, 1), (1, 20000), (20000, 2), (7, 9000)])
def test_extreme_shapes_never_build_huge_intermediates(size) -> None:
    start = time.perf_counter()
    out = RECIPE.pixels(Image.new("RGB", size, (40, 80, 120)))
    assert out.shape == (224, 224, 3) and time.perf_counter() - start < 1.0  # 1 x 20000 would need 1.3 GB
    assert np.all(out == (40, 80, 120))


def test_direct_crop_resampling_matches_resize_then_crop(monkeypatch) -> None:
    image = _noise(40, 600, 3)
    standard = RECIPE.pixels(image).astype(int)
    monkeypatch.setattr(pp, "MAX_INTERMEDIATE_SIDE", 10)  # force the box path on the same image
    direct = RECIPE.pixels(image).astype(int)
    assert np.abs(standard - direct).mean() < 1.0
