"""Picklable preprocessing recipes, so worker processes can prepare model inputs without the model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

_RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}


@dataclass(frozen=True)
class Preprocess:
    """How one encoder wants its input: resize + crop, scale to [0, 1], normalise, lay out.

    crop="center": resize the shorter side to `resize_to` (default `size`), then centre-crop `size`.
    crop="square": centre-crop the largest square, then resize it to `size`.
    """

    size: int
    crop: Literal["center", "square"] = "center"
    resize_to: int | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    layout: Literal["CHW", "HWC"] = "CHW"
    interpolation: Literal["bilinear", "bicubic", "lanczos"] = "bicubic"

    def __call__(self, image: Image.Image) -> np.ndarray:
        """Turn an RGB PIL image into a float32 array of shape (3, size, size) or (size, size, 3)."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        resample = _RESAMPLE[self.interpolation]
        w, h = image.size
        if self.crop == "square":
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            image = image.crop((left, top, left + side, top + side)).resize((self.size, self.size), resample)
        else:
            # same arithmetic as torchvision's Resize(int) + CenterCrop, so open_clip/timm recipes match exactly
            target = self.resize_to or self.size
            if w <= h:
                nw, nh = target, int(target * h / w)
            else:
                nw, nh = int(target * w / h), target
            nw, nh = max(self.size, nw), max(self.size, nh)
            image = image.resize((nw, nh), resample)
            left, top = int(round((nw - self.size) / 2.0)), int(round((nh - self.size) / 2.0))
            image = image.crop((left, top, left + self.size, top + self.size))
        arr = np.asarray(image, dtype=np.float32) / 255.0
        arr = (arr - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        if self.layout == "CHW":
            arr = arr.transpose(2, 0, 1)
        return np.ascontiguousarray(arr, dtype=np.float32)
