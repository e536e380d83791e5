"""The two descriptor encoders of PARASOL: the style encoder A (ALADIN in the paper) and the semantic encoder C
(CLIP), taken from the indexer's registry so the descriptors are exactly the vectors a workspace indexes.

Two ways to run an encoder:
- `images` / `texts`: the indexing path (PIL -> the encoder's own preprocessing -> L2-normalised vector, no
  gradient). Conditions a_s = A(s), c_y = C(y) and y's own descriptors come from here.
- `differentiable`: a decoded reconstruction x' (a (B, 3, H, W) tensor in [-1, 1]) -> descriptor, with
  gradients to x', for the training losses MSE(a_s, A(x')) and MSE(c_y, C(x')). The encoder's preprocessing is
  redone in torch (resize with antialiasing, crop, normalise): for the square training crops it is the same
  geometry as the PIL recipe, up to resampling details (PIL's and torch's bicubic/bilinear kernels differ
  slightly). Only torch encoders can do this (open_clip, ALADIN, CSD, EfficientNet-Lite); the Magenta style
  predictor runs in ONNX and gives no gradients: `grad_capable` is False and training refuses a non-zero
  weight on its loss (see `train.py`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from indexer.encoders.base import Encoder, TextNotSupported
from indexer.encoders.registry import create_encoder

from ..base import StylizeError


def _torch_module(encoder: Encoder) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The encoder's image forward as a differentiable torch callable, or None (ONNX / unknown kinds)."""
    from indexer.encoders.content_efficientnet import EfficientNetLiteEncoder
    from indexer.encoders.content_open_clip import OpenClipEncoder
    from indexer.encoders.style_aladin import TorchStyleEncoder

    if isinstance(encoder, OpenClipEncoder):
        return encoder.model.encode_image
    if isinstance(encoder, TorchStyleEncoder):  # ALADIN, CSD
        return encoder.net
    if isinstance(encoder, EfficientNetLiteEncoder):
        return lambda x: encoder.model.features(x.contiguous(memory_format=torch.channels_last))
    return None


def _frozen_modules(encoder: Encoder) -> list[torch.nn.Module]:
    return [m for m in (getattr(encoder, "model", None), getattr(encoder, "net", None))
            if isinstance(m, torch.nn.Module)]


class DescriptorEncoder:
    """One registry encoder used as a PARASOL descriptor: `encoder_id`, `dim`, and the three ways to embed."""

    def __init__(self, encoder_id: str, device: str) -> None:
        self.encoder: Encoder = create_encoder(encoder_id, device)
        self.encoder_id = encoder_id
        self.dim = int(self.encoder.dim)
        self.device = device
        self._forward = _torch_module(self.encoder)
        for module in _frozen_modules(self.encoder):  # frozen: gradients flow to the input only
            module.requires_grad_(False)

    @property
    def grad_capable(self) -> bool:
        """Whether `differentiable` works (a torch encoder, not an ONNX graph)."""
        return self._forward is not None

    @property
    def supports_text(self) -> bool:
        return bool(self.encoder.supports_text)

    def images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """(N, dim) float32 descriptors of PIL images on CPU, exactly as indexing embeds them."""
        batch = np.stack([self.encoder.preprocess(im.convert("RGB")) for im in images])
        return torch.from_numpy(np.ascontiguousarray(self.encoder.embed_images(batch), dtype=np.float32))

    def texts(self, texts: Sequence[str], what: str) -> torch.Tensor:
        """(N, dim) descriptors of texts; a StylizeError naming `what` when the encoder has no text side."""
        if not self.supports_text:
            raise StylizeError(f"{what}: the encoder {self.encoder_id} has no text side, so text cannot stand in "
                               "for this modality; give an image")
        try:
            return torch.from_numpy(np.ascontiguousarray(self.encoder.embed_texts(list(texts)), dtype=np.float32))
        except TextNotSupported as exc:
            raise StylizeError(f"{what}: {exc}") from exc

    def differentiable(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, dim) L2-normalised descriptors, differentiable w.r.t. x."""
        if self._forward is None:
            raise StylizeError(f"the encoder {self.encoder_id} runs in ONNX and gives no gradients")
        return F.normalize(self._forward(self._preprocess(x)).float(), dim=-1)

    def _preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's `Preprocess` in torch: geometry (stretch, square crop or short-side resize + centre
        crop), [0, 1] scaling and mean/std normalisation, CHW."""
        from indexer.encoders.style_aladin import StretchPreprocess

        pre = self.encoder.preprocess
        mode = "bilinear" if pre.interpolation == "bilinear" else "bicubic"
        x = (x.float() + 1.0) / 2.0
        h, w = x.shape[-2:]
        if isinstance(pre, StretchPreprocess):
            x = F.interpolate(x, size=(pre.size, pre.size), mode=mode, antialias=True, align_corners=False)
        elif pre.crop == "square":
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            x = F.interpolate(x[..., top:top + side, left:left + side], size=(pre.size, pre.size), mode=mode,
                              antialias=True, align_corners=False)
        else:
            target = pre.resize_to or pre.size
            nh, nw = (int(target * h / w), target) if w <= h else (target, int(target * w / h))
            nh, nw = max(pre.size, nh), max(pre.size, nw)
            x = F.interpolate(x, size=(nh, nw), mode=mode, antialias=True, align_corners=False)
            top, left = int(round((nh - pre.size) / 2.0)), int(round((nw - pre.size) / 2.0))
            x = x[..., top:top + pre.size, left:left + pre.size]
        mean = torch.tensor(pre.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(pre.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - mean) / std


def nlerp(vectors: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """The weighted mean of unit descriptors (N, d), renormalised to unit length: the interpolation of
    descriptors (two styles and/or two contents). Weights (1, 0) give the first vector exactly."""
    w = torch.tensor([float(v) for v in weights], dtype=vectors.dtype)
    if len(w) != len(vectors) or (w < 0).any() or float(w.sum()) <= 0:
        raise StylizeError(f"descriptor interpolation needs one weight >= 0 per vector, not all 0; got {list(weights)}")
    used = w > 0
    if int(used.sum()) == 1:
        return vectors[int(used.nonzero()[0])].clone()
    mixed = (w[:, None] * vectors).sum(0) / w.sum()
    norm = mixed.norm()
    if float(norm) < 1e-6:
        raise StylizeError("the interpolated descriptors cancel out (opposite vectors); change the weights")
    return mixed / norm
