"""Colour post-processing (generation.colour): ARF-style mean/covariance transfer on real photos."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from generation.colour import ColourStats, blend_stats, match_colour

skdata = pytest.importorskip("skimage.data")


def _photo(name: str, side: int = 192) -> Image.Image:
    image = Image.fromarray(getattr(skdata, name)())
    image.thumbnail((side, side), Image.LANCZOS)
    return image


def _rel_frobenius(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("source", ["astronaut", "coffee"])
def test_matched_image_has_target_mean_and_covariance(source: str) -> None:
    # chelsea's palette is narrow enough that the mapped colours stay inside [0, 1]: clipping does not bite
    target = ColourStats.of(_photo("chelsea"))
    before = ColourStats.of(_photo(source))
    out = match_colour(_photo(source), target)
    got = ColourStats.of(out)
    assert out.mode == "RGB" and out.size == _photo(source).size
    assert _rel_frobenius(before.cov, target.cov) > 0.5  # the test is not trivially satisfied
    np.testing.assert_allclose(got.mean, target.mean, atol=0.01)
    assert _rel_frobenius(got.cov, target.cov) < 0.01


def test_matching_to_own_statistics_is_identity() -> None:
    image = _photo("astronaut")
    out = np.asarray(match_colour(image, ColourStats.of(image)), dtype=np.int16)
    assert np.abs(out - np.asarray(image, dtype=np.int16)).max() <= 1  # float round trip, then rounding


def test_stats_shapes_and_values() -> None:
    stats = ColourStats.of(_photo("coffee"))
    assert stats.mean.shape == (3,) and stats.cov.shape == (3, 3)
    assert stats.mean.dtype == np.float64 and stats.cov.dtype == np.float64
    np.testing.assert_allclose(stats.cov, stats.cov.T)
    assert (np.linalg.eigvalsh(stats.cov) > 0).all()
    assert ((stats.mean > 0) & (stats.mean < 1)).all()


def test_huge_image_is_subsampled_deterministically() -> None:
    big = _photo("chelsea", side=4000).resize((2400, 1800), Image.NEAREST)  # > MAX_STATS_PIXELS
    a, b = ColourStats.of(big), ColourStats.of(big)
    assert np.array_equal(a.mean, b.mean) and np.array_equal(a.cov, b.cov)
    full = ColourStats.of_pixels(np.asarray(big, dtype=np.float64).reshape(-1, 3) / 255.0)
    np.testing.assert_allclose(a.mean, full.mean, atol=2e-3)
    assert _rel_frobenius(a.cov, full.cov) < 0.02


def test_blend_endpoints_are_exact_and_midpoint_is_the_mixture() -> None:
    s1, s2 = ColourStats.of(_photo("astronaut")), ColourStats.of(_photo("coffee"))
    for weights, expected in (((1.0, 0.0), s1), ((0.0, 1.0), s2), ((3.0, 0.0), s1)):
        got = blend_stats([s1, s2], np.array(weights))
        assert got.mean.tobytes() == expected.mean.tobytes()
        assert got.cov.tobytes() == expected.cov.tobytes()
    # the mixture of two equal-size images' pixels has the statistics of their concatenation
    p1 = np.asarray(_photo("astronaut").resize((64, 64)), np.float64).reshape(-1, 3) / 255
    p2 = np.asarray(_photo("coffee").resize((64, 64)), np.float64).reshape(-1, 3) / 255
    mixed = blend_stats([ColourStats.of_pixels(p1), ColourStats.of_pixels(p2)], np.array([0.5, 0.5]))
    pooled = ColourStats.of_pixels(np.concatenate([p1, p2]))
    np.testing.assert_allclose(mixed.mean, pooled.mean, atol=1e-12)
    np.testing.assert_allclose(mixed.cov, pooled.cov, atol=1e-12)


def test_blend_refuses_bad_weights() -> None:
    s = ColourStats.of(_photo("coffee"))
    with pytest.raises(ValueError):
        blend_stats([s, s], np.array([0.0, 0.0]))
    with pytest.raises(ValueError):
        blend_stats([s, s], np.array([1.0]))


def test_grey_and_flat_images_do_not_crash_or_produce_nan() -> None:
    grey = _photo("astronaut").convert("L").convert("RGB")  # rank-1 colour covariance
    flat = Image.new("RGB", (32, 24), (90, 90, 90))  # zero covariance
    target = ColourStats.of(_photo("chelsea"))
    for image in (grey, flat):
        stats = ColourStats.of(image)
        assert np.isfinite(stats.cov).all()
        out = np.asarray(match_colour(image, target))
        assert out.shape == (image.height, image.width, 3)
    np.testing.assert_allclose(ColourStats.of(match_colour(flat, target)).mean, target.mean, atol=1 / 255)
    # matching *to* grey statistics makes the image grey
    to_grey = np.asarray(match_colour(_photo("coffee"), ColourStats.of(grey)), dtype=np.int16)
    assert np.abs(to_grey[..., 0] - to_grey[..., 1]).max() <= 1
    assert np.abs(to_grey[..., 1] - to_grey[..., 2]).max() <= 1


def test_alpha_is_kept_and_other_modes_come_back_rgb() -> None:
    rgba = _photo("coffee").convert("RGBA")
    alpha = np.zeros((rgba.height, rgba.width), np.uint8)
    alpha[:, : rgba.width // 2] = 255
    rgba.putalpha(Image.fromarray(alpha))
    target = ColourStats.of(_photo("chelsea"))
    out = match_colour(rgba, target)
    assert out.mode == "RGBA" and out.size == rgba.size
    assert np.array_equal(np.asarray(out)[..., 3], alpha)
    # statistics count only the opaque half
    opaque = ColourStats.of(_photo("coffee").crop((0, 0, rgba.width // 2, rgba.height)))
    np.testing.assert_allclose(ColourStats.of(rgba).mean, opaque.mean, atol=1e-12)
    assert match_colour(_photo("coffee").convert("L"), target).mode == "RGB"
