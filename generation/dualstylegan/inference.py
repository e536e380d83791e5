"""Exemplar-based style transfer with a loaded DualStyleGAN: G(E(I), f(z_e+), w), as `style_transfer.py`.

The intrinsic code is E(I) in Z+ (mapped row by row through f, then truncated towards 0 in W); the extrinsic
code z_e+ (Z+) goes through f to W+ and into the extrinsic path. Colour preservation, the paper's two ways:
`weights` switches the colour layers off (w_c = 0); `intrinsic` replaces the extrinsic code's colour rows
(8-18) by the intrinsic code's, which then still pass the colour transforms T_c (colours closer to the
target domain). Structure preservation is w_s < 1. Style blending interpolates codes linearly.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from .network import DualStyleGAN


def blend_codes(codes: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """sum_i w_i c_i with the weights normalised to sum 1; a single weight-1 code comes back unchanged."""
    w = np.asarray(weights, dtype=np.float64)
    if len(codes) != len(w) or not len(w) or w.sum() <= 0 or (w < 0).any():
        raise ValueError(f"blend_codes needs one non-negative weight per code, not all 0; got {list(w)}")
    w = w / w.sum()
    used = [(float(wi), c) for wi, c in zip(w, codes, strict=True) if wi > 0]
    if len(used) == 1:
        return used[0][1]
    return sum(wi * c for wi, c in used)


def with_intrinsic_colour(extrinsic: torch.Tensor, intrinsic: torch.Tensor, n_structure: int) -> torch.Tensor:
    """The extrinsic code with its colour rows (index >= n_structure) taken from the intrinsic code."""
    out = extrinsic.clone()
    out[:, n_structure:] = intrinsic[:, n_structure:].to(out)
    return out


def effective_weights(weights: Sequence[float], n_structure: int, preserve_colour: str) -> list[float]:
    """w as the generator receives it: `preserve_colour='weights'` zeroes the colour layers."""
    w = [float(v) for v in weights]
    return w[:n_structure] + [0.0] * (len(w) - n_structure) if preserve_colour == "weights" else w


@torch.no_grad()
def transfer(model: DualStyleGAN, intrinsic: torch.Tensor, extrinsic: torch.Tensor, weights: Sequence[float],
             truncation: float = 1.0, preserve_colour: str = "none",
             noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """The stylised image in [-1, 1] (batch, 3, size, size) for Z+ intrinsic / extrinsic codes."""
    n_structure = len(model.structure_layers)
    if preserve_colour == "intrinsic":
        extrinsic = with_intrinsic_colour(extrinsic, intrinsic, n_structure)
    dtype = next(model.parameters()).dtype
    image, _ = model([intrinsic.to(dtype)], model.map_extrinsic(extrinsic.to(dtype)), z_plus_latent=True,
                     truncation=truncation, truncation_latent=0, noise=noise, randomize_noise=noise is None,
                     interp_weights=effective_weights(weights, n_structure, preserve_colour), use_res=True)
    return image.clamp(-1, 1)


def to_tensor(image: Image.Image, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """RGB PIL image -> (1, 3, H, W) in [-1, 1]."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(2, 0, 1)[None].to(device, dtype)


def to_image(x: torch.Tensor, size: int | None = None) -> Image.Image:
    """(1, 3, H, W) in [-1, 1] -> RGB PIL image (optionally resized, Lanczos)."""
    arr = ((x[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    img = Image.fromarray(arr, "RGB")
    return img if size is None or size == img.width else img.resize((size, size), Image.Resampling.LANCZOS)
