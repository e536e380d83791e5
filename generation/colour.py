"""Colour post-processing shared by every stylizer (PARASOL, METHODS.md 1d; ARF-style colour transfer).

The output's RGB distribution is moved so its mean and covariance equal a target's: the linear map
x' = A (x - mu_src) + mu_tgt with A = C_tgt^{1/2} C_src^{-1/2}, both square roots symmetric (from an
eigendecomposition). Then cov(x') = A C_src A^T = C_tgt exactly, before clipping to [0, 1]. This is the
colour transfer of ARF (Zhang et al. 2022, `match_colors`), which clamps the source eigenvalues from
below; we clamp at EIGEN_FLOOR, about the variance of 8-bit quantisation noise, so directions in which
the source has no colour variation (a grey or flat image) are not blown up from rounding noise.

Statistics are over pixels, RGB in [0, 1], float64; fully transparent pixels are ignored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

MAX_STATS_PIXELS = 1 << 20  # larger images are subsampled on a regular grid (deterministic) for statistics
EIGEN_FLOOR = 1e-6  # ~ (1/255)^2 / 12, the variance of uint8 rounding


@dataclass(frozen=True)
class ColourStats:
    """Mean (3,) and covariance (3, 3) of an image's RGB pixels in [0, 1], float64."""

    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def of(cls, image: Image.Image) -> ColourStats:
        """Statistics of `image`'s pixels (population covariance; huge images are grid-subsampled)."""
        return _stats(*_pixels(image))

    @classmethod
    def of_pixels(cls, x: np.ndarray) -> ColourStats:
        """Statistics of an (N, 3) array of RGB values in [0, 1]."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, 3)
        if len(x) == 0:
            raise ValueError("colour statistics need at least one pixel")
        mean = x.mean(axis=0)
        d = x - mean
        return cls(mean, d.T @ d / len(x))


def blend_stats(stats: list[ColourStats], weights: np.ndarray) -> ColourStats:
    """Statistics of the weighted mixture of the given distributions (weights are normalised to sum 1).

    mean = sum w_i m_i; cov = sum w_i (C_i + (m_i - m)(m_i - m)^T). Zero-weight entries are skipped, so
    weights (1, 0) return the first statistics bit for bit.
    """
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != len(stats) or not stats:
        raise ValueError(f"blend_stats needs one weight per statistics, got {len(w)} for {len(stats)}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"blend weights must be finite, >= 0 and not all 0, got {w.tolist()}")
    w = w / w.sum()
    used = [(wi, s) for wi, s in zip(w, stats) if wi > 0]
    if len(used) == 1:  # exactly the one distribution (also keeps signed zeros bit for bit)
        only = used[0][1]
        return ColourStats(np.array(only.mean, np.float64), np.array(only.cov, np.float64))
    mean = sum(wi * s.mean for wi, s in used)
    cov = sum(wi * (s.cov + np.outer(s.mean - mean, s.mean - mean)) for wi, s in used)
    return ColourStats(np.asarray(mean, np.float64), np.asarray(cov, np.float64))


def match_colour(image: Image.Image, target: ColourStats) -> Image.Image:
    """`image` with its colour mean and covariance moved to `target`'s, clipped to [0, 1].

    Same size; RGBA keeps its alpha channel (and only opaque pixels count for the source statistics),
    every other mode comes back RGB.
    """
    rgb, alpha = _pixels(image)
    source = _stats(rgb, alpha)
    a = _sym_power(target.cov, 0.5, floor=0.0) @ _sym_power(source.cov, -0.5, floor=EIGEN_FLOOR)
    x = (rgb.reshape(-1, 3) - source.mean) @ a.T + np.asarray(target.mean, np.float64)
    out = Image.fromarray(to_uint8(x.reshape(rgb.shape)), "RGB")
    if alpha is not None:
        out.putalpha(Image.fromarray(alpha, "L"))
    return out


def _sym_power(cov: np.ndarray, power: float, floor: float) -> np.ndarray:
    """cov^power for a symmetric PSD matrix, eigenvalues clamped to >= floor (and >= 0)."""
    cov = np.asarray(cov, dtype=np.float64)
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    vals = np.maximum(vals, max(floor, 0.0))
    with np.errstate(divide="ignore"):
        scaled = np.where(vals > 0, vals**power, 0.0)
    return (vecs * scaled) @ vecs.T


def _pixels(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, 3) float64 RGB in [0, 1], and the (H, W) uint8 alpha when the image has one."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"))
        return rgba[..., :3].astype(np.float64) / 255.0, np.ascontiguousarray(rgba[..., 3])
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0, None


def _stats(rgb: np.ndarray, alpha: np.ndarray | None) -> ColourStats:
    """Statistics over a regular grid subsample of at most ~MAX_STATS_PIXELS pixels, opaque ones only."""
    step = max(1, math.ceil(math.sqrt(rgb.shape[0] * rgb.shape[1] / MAX_STATS_PIXELS)))
    x = rgb[::step, ::step].reshape(-1, 3)
    if alpha is not None:
        opaque = alpha[::step, ::step].reshape(-1) > 0
        if opaque.any():
            x = x[opaque]
    return ColourStats.of_pixels(x)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (clipped) -> uint8, rounding to nearest."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


# Full-range BT.601 YCbCr (as JPEG and Pillow use it), without the +0.5 chroma offset, which cancels here.
_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)


def to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB floats -> (..., 3) luminance Y and chroma Cb, Cr (chroma centred on 0), float64."""
    return np.asarray(rgb, dtype=np.float64) @ _RGB_TO_YCC.T


def luminance_only(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Colour-preserving transfer (Gatys et al. 2016, "Preserving color", luminance-only variant as a
    post-step): the stylized image's luminance with the content's chroma. Both (H, W, 3) RGB in [0, 1];
    returns float64 RGB clipped to [0, 1] (clipping only where the combination leaves the RGB gamut)."""
    if stylized.shape != content.shape:
        raise ValueError(f"stylized {stylized.shape} and content {content.shape} differ in shape")
    ycc = to_ycbcr(content)
    ycc[..., 0] = to_ycbcr(stylized)[..., 0]
    return np.clip(ycc @ _YCC_TO_RGB.T, 0.0, 1.0)
