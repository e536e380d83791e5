"""Picklable preprocessing recipes, so worker processes can prepare model inputs without the model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

MAX_INTERMEDIATE_SIDE = 4096  # beyond this (e.g. a 1 x 3000 strip) the crop is resampled directly
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
        return self.finish(self.pixels(image)[None])[0]

    def pixels(self, image: Image.Image) -> np.ndarray:
        """The geometric half: resized and cropped uint8 (size, size, 3). Cheap to send between processes
        (a quarter of the float32 bytes); `finish` turns a stack of them into model input."""
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
            left, top = int(round((nw - self.size) / 2.0)), int(round((nh - self.size) / 2.0))
            if max(nw, nh) <= MAX_INTERMEDIATE_SIDE:
                image = image.resize((nw, nh), resample).crop((left, top, left + self.size, top + self.size))
            else:  # extreme aspect ratio: resample only the crop's source box, never a huge intermediate
                sx, sy = w / nw, h / nh
                box = (left * sx, top * sy, (left + self.size) * sx, (top + self.size) * sy)
                image = image.resize((self.size, self.size), resample, box=box)
        return np.asarray(image, dtype=np.uint8)

    def finish(self, pixels: np.ndarray) -> np.ndarray:
        """The arithmetic half, for a whole batch: uint8 (N, size, size, 3) -> float32 model input
        (N, 3, size, size) or (N, size, size, 3), scaled to [0, 1] and normalised."""
        shape = (1, 3, 1, 1) if self.layout == "CHW" else (1, 1, 1, 3)
        scale = (np.float32(1.0 / 255.0) / np.asarray(self.std, np.float32)).reshape(shape)
        shift = (np.asarray(self.mean, np.float32) / np.asarray(self.std, np.float32)).reshape(shape)
        if self.layout == "CHW":
            pixels = pixels.transpose(0, 3, 1, 2)  # moving bytes before widening them is 4x cheaper
        arr = np.ascontiguousarray(pixels).astype(np.float32)
        arr *= scale
        arr -= shift
        return arr

    def torch_input(self, images: torch.Tensor) -> torch.Tensor:
        """This recipe on a (B, 3, H, W) float tensor in [0, 1], differentiable: the (B, 3, size, size) model
        input, equal to the PIL path up to its uint8 rounding (see `torch_preprocess`)."""
        from .torch_preprocess import normalise

        return normalise(self, self.torch_geometry(images.float()))

    def torch_geometry(self, images: torch.Tensor) -> torch.Tensor:
        """The geometric half of `torch_input` (`pixels` in torch)."""
        from .torch_preprocess import resize_and_crop

        return resize_and_crop(self, images)


@dataclass(frozen=True)
class StretchPreprocess(Preprocess):
    """Resize the whole image to size x size, ignoring the aspect ratio (torchvision `Resize((s, s))`):
    nothing is cropped away, for encoders that must see every part of the picture."""

    def pixels(self, image: Image.Image) -> np.ndarray:
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.asarray(image.resize((self.size, self.size), _RESAMPLE[self.interpolation]), dtype=np.uint8)

    def torch_geometry(self, images: torch.Tensor) -> torch.Tensor:
        from .torch_preprocess import resize

        return resize(images, (self.size, self.size), self.interpolation)
