"""Canny edge maps for the canny ControlNet, in torch (OpenCV is not a dependency).

Follows `cv2.Canny(image, low, high)` as the ControlNet canny models were trained with: 3x3 Sobel on the
8-bit grey image, L1 gradient magnitude (|gx| + |gy|, OpenCV's default), non-maximum suppression along the
gradient direction quantised to 0/45/90/135 degrees, then hysteresis (weak edges survive only when
connected to strong ones). No blur, as in OpenCV. Output is white edges on black, RGB.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x[y + dy, x + dx] with zero padding at the border (x: (H, W))."""
    padded = F.pad(x[None, None], (1, 1, 1, 1))[0, 0]
    h, w = x.shape
    return padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def canny_edges(image: Image.Image, low: float = 100.0, high: float = 200.0) -> Image.Image:
    """Edge map of `image` (white edges on black, RGB, same size); thresholds on the 0-255 scale."""
    if not 0 <= low <= high:
        raise ValueError(f"canny thresholds need 0 <= low <= high, got {low}, {high}")
    grey = torch.from_numpy(np.asarray(image.convert("L"), dtype=np.float32))
    padded = F.pad(grey[None, None], (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, _SOBEL_X[None, None])[0, 0]
    gy = F.conv2d(padded, _SOBEL_X.T.contiguous()[None, None])[0, 0]
    magnitude = gx.abs() + gy.abs()

    # quantise the gradient direction (y points down) to one of four neighbour pairs
    angle = torch.rad2deg(torch.atan2(gy, gx)) % 180.0
    sector = torch.round(angle / 45.0).long() % 4
    keep = torch.zeros_like(magnitude, dtype=torch.bool)
    for index, (dy, dx) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        is_max = (magnitude >= _shift(magnitude, dy, dx)) & (magnitude > _shift(magnitude, -dy, -dx))
        keep |= (sector == index) & is_max
    thin = torch.where(keep, magnitude, torch.zeros_like(magnitude))

    weak = thin >= low
    edges = thin >= high
    while True:  # grow strong edges through connected weak pixels (8-connectivity) until stable
        grown = weak & (F.max_pool2d(edges[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0)
        if torch.equal(grown, edges):
            break
        edges = grown
    out = edges.numpy().astype(np.uint8) * 255
    return Image.fromarray(np.stack([out] * 3, axis=-1))
