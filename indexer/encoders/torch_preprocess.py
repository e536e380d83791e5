"""`Preprocess` recipes in torch, differentiable: for losses on generated images (PARASOL's descriptor losses).

Imported only by `Preprocess.torch_input` / `torch_geometry`, so the numpy/PIL path never loads torch.
torch's antialiased resampling (`antialias=True`) uses PIL's kernels - the triangle filter for bilinear,
the cubic with a = -0.5 for bicubic, widened by the downscale factor - so on the same pixels the result
equals the PIL path up to PIL's rounding to uint8 (at most 0.5/255 before normalisation; see
tests/test_encoder_torch_forward.py). Lanczos has no torch kernel and is done bicubic.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from .preprocess import Preprocess


def resize(images: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """(B, C, H, W) in [0, 1] -> (B, C, *size) as PIL resizes: its antialiased kernel for `interpolation`, the
    horizontal pass first, each pass clipped to the pixel range (bicubic overshoots at sharp edges)."""
    mode = "bilinear" if interpolation == "bilinear" else "bicubic"
    (h, w), (new_h, new_w) = images.shape[-2:], size
    if w != new_w:
        images = F.interpolate(images, size=(h, new_w), mode=mode, antialias=True, align_corners=False).clamp(0, 1)
    if h != new_h:
        images = F.interpolate(images, size=(new_h, new_w), mode=mode, antialias=True,
                               align_corners=False).clamp(0, 1)
    return images  # a same-size resize: PIL returns the same pixels


def resize_and_crop(pre: Preprocess, images: torch.Tensor) -> torch.Tensor:
    """The geometric half of `pre` (`Preprocess.pixels`): "square" or "center" crop and resize, in float."""
    h, w = images.shape[-2:]
    if pre.crop == "square":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        return resize(images[..., top:top + side, left:left + side], (pre.size, pre.size), pre.interpolation)
    target = pre.resize_to or pre.size
    nw, nh = (target, int(target * h / w)) if w <= h else (int(target * w / h), target)
    nw, nh = max(pre.size, nw), max(pre.size, nh)
    left, top = int(round((nw - pre.size) / 2.0)), int(round((nh - pre.size) / 2.0))
    images = resize(images, (nh, nw), pre.interpolation)
    return images[..., top:top + pre.size, left:left + pre.size]


def normalise(pre: Preprocess, images: torch.Tensor) -> torch.Tensor:
    """The arithmetic half (`Preprocess.finish`) on [0, 1] pixels: (x - mean) / std, CHW."""
    if pre.layout != "CHW":
        raise ValueError(f"a torch model input is CHW; this recipe lays out {pre.layout}")
    mean = torch.tensor(pre.mean, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images - mean) / std
