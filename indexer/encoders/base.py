"""The encoder interface every embedding space is built on."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .preprocess import Preprocess

if TYPE_CHECKING:
    import torch


class EncoderError(RuntimeError):
    """An encoder cannot be built or used (missing weights, unsupported input...)."""


class TextNotSupported(EncoderError):
    """This encoder has no text tower and no text bridge."""


class GradientsNotSupported(EncoderError):
    """This encoder does not run in torch (e.g. an ONNX graph), so it has no differentiable forward."""


class Encoder(ABC):
    """Maps images (and, where it can, text) to L2-normalised float32 vectors of one fixed dimension.

    `encoder_id` names model + weights exactly (e.g. "open_clip/ViT-B-32:laion2b_s34b_b79k"); it is
    recorded with every space so vectors from different encoders never share an index.
    `preprocess` is picklable and runs in decoding worker processes; `embed_images` takes a stacked batch
    of its outputs.
    """

    encoder_id: str
    dim: int
    metric: str = "ip"  # inner product on L2-normalised vectors == cosine similarity
    preprocess: Preprocess
    supports_text: bool = False
    supports_torch_forward: bool = False  # `torch_forward` works (a torch network)
    tiny: bool = False  # random-weight test config: its vectors mean nothing
    # Cosine above which two images count as near-duplicates (resized / re-encoded copies) in this space.
    # Encoder-specific, measured per model: the registry keeps it (`registry.near_duplicate_cosine`, readable
    # without building the model) and `build_encoder` sets it here.
    near_duplicate_cosine: float = 0.95

    @abstractmethod
    def embed_images(self, batch: np.ndarray) -> np.ndarray:
        """(N, *preprocess output shape) float32 -> (N, dim) float32, rows L2-normalised."""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N,) strings -> (N, dim) float32, rows L2-normalised, in the same space as the images."""
        raise TextNotSupported(f"encoder {self.encoder_id} cannot embed text")

    def torch_forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float tensor in [0, 1], any size, on the encoder's device -> (B, dim) L2-normalised
        embeddings, differentiable w.r.t. `images` (for losses on generated images): `preprocess` done in torch
        (`Preprocess.torch_input`), then the network `embed_images` runs. The encoder's weights are frozen.
        Only torch encoders have one (`supports_torch_forward`); the others raise GradientsNotSupported."""
        raise GradientsNotSupported(f"encoder {self.encoder_id} does not run in torch and gives no gradients")


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation in float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, eps)
