"""The layout signature (indexer/encoders/layout_signature.py): the maths, and what it keeps and loses."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from indexer.encoders.layout_signature import BLOCK, GRID, LAYOUT_DIM, LayoutSignature, _dct_basis, layout_vectors
from indexer.encoders.registry import create_encoder, near_duplicate_cosine


def _photo(seed: int = 0, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A smooth random scene: a few blurred blobs of colour (structure at low frequencies, like a photo)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, size=(6, 8, 3)).astype(np.uint8)
    return Image.fromarray(small).resize(size, Image.BICUBIC)


def _embed(image: Image.Image) -> np.ndarray:
    enc = LayoutSignature()
    return enc.embed_images(enc.preprocess.finish(enc.preprocess.pixels(image)[None]))[0]


def test_the_basis_is_the_orthonormal_dct_ii() -> None:
    basis = _dct_basis(GRID, GRID)
    np.testing.assert_allclose(basis @ basis.T, np.eye(GRID), atol=1e-5)
    # DCT-II definition at one coefficient, written out
    x = np.random.default_rng(1).uniform(size=(GRID, GRID)).astype(np.float32)
    u, v = 2, 3
    n = np.arange(GRID)
    direct = (np.sqrt(2 / GRID) ** 2) * np.sum(
        x * np.cos(np.pi * (2 * n[:, None] + 1) * u / (2 * GRID)) * np.cos(np.pi * (2 * n[None, :] + 1) * v / (2 * GRID)))
    assert (_dct_basis() @ x @ _dct_basis().T)[u, v] == pytest.approx(direct, rel=1e-4)


def test_vectors_are_unit_length_without_the_mean_brightness() -> None:
    rgb = np.random.default_rng(2).uniform(size=(3, GRID, GRID, 3)).astype(np.float32)
    vec = layout_vectors(rgb)
    assert vec.shape == (3, LAYOUT_DIM) == (3, BLOCK * BLOCK - 1)
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1.0, rtol=1e-5)
    # a brighter copy (+0.1 everywhere) moves only the dropped DC term
    np.testing.assert_allclose(layout_vectors(rgb + 0.1), vec, atol=1e-5)


def test_a_flat_image_has_no_layout() -> None:
    flat = np.full((1, GRID, GRID, 3), 0.4, np.float32)
    assert not layout_vectors(flat).any()


def test_copies_keep_the_signature_and_other_scenes_do_not() -> None:
    threshold = near_duplicate_cosine("signature/luma-dct")
    photo = _photo()
    ref = _embed(photo)
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", quality=30)
    copies = {"half size": photo.resize((160, 120), Image.BILINEAR), "jpeg q30": Image.open(buf),
              "5 % crop": photo.crop((16, 12, 304, 228))}
    for name, copy in copies.items():
        assert float(_embed(copy) @ ref) >= threshold, name
    others = {"mirrored": photo.transpose(Image.FLIP_LEFT_RIGHT), "another scene": _photo(seed=7)}
    for name, other in others.items():
        assert float(_embed(other) @ ref) < threshold, name


def test_the_registry_builds_it_without_a_model() -> None:
    enc = create_encoder("signature/luma-dct")
    assert isinstance(enc, LayoutSignature) and enc.dim == LAYOUT_DIM and not enc.supports_text
