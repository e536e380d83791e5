"""The two descriptor encoders of PARASOL: the style encoder A (ALADIN in the paper) and the semantic encoder C
(CLIP), taken from the indexer's registry so the descriptors are exactly the vectors a workspace indexes.

Two ways to run an encoder:
- `images` / `texts`: the indexing path (PIL -> the encoder's own preprocessing -> L2-normalised vector, no
  gradient). Conditions a_s = A(s), c_y = C(y) and y's own descriptors come from here.
- `differentiable`: a decoded reconstruction x' (a (B, 3, H, W) tensor in [-1, 1]) -> descriptor, with
  gradients to x', for the training losses MSE(a_s, A(x')) and MSE(c_y, C(x')): the encoder's own
  `torch_forward` (its preprocessing in torch, equal to the PIL path up to uint8 rounding). Encoders that do
  not run in torch (the Magenta style predictor is ONNX) give no gradients: `grad_capable` is False and
  training refuses a non-zero weight on its loss (see `train.py`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from indexer.encoders.base import Encoder, TextNotSupported
from indexer.encoders.registry import create_encoder

from ..base import StylizeError


class DescriptorEncoder:
    """One registry encoder used as a PARASOL descriptor: `encoder_id`, `dim`, and the three ways to embed."""

    def __init__(self, encoder_id: str, device: str) -> None:
        self.encoder: Encoder = create_encoder(encoder_id, device)
        self.encoder_id = encoder_id
        self.dim = int(self.encoder.dim)
        self.device = device

    @property
    def grad_capable(self) -> bool:
        """Whether `differentiable` works (a torch encoder, not an ONNX graph)."""
        return bool(self.encoder.supports_torch_forward)

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
        if not self.grad_capable:
            raise StylizeError(f"the encoder {self.encoder_id} runs in ONNX and gives no gradients")
        return self.encoder.torch_forward((x.float() + 1.0) / 2.0)


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
