"""IR-SE residual networks (ArcFace's "improved residual" units with squeeze-and-excitation), the backbone of
both the pSp encoder and the ArcFace identity network used by the identity loss. Names follow the
checkpoints (`input_layer`, `body.N.shortcut_layer`, `body.N.res_layer`, `output_layer`).

IR-SE-50: four stages of 3, 4, 14 and 3 units with 64, 128, 256 and 512 channels; the first unit of each
stage has stride 2. The tiny configs shrink the units and channels, never the layout.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

IRSE50_UNITS = (3, 4, 14, 3)
IRSE50_DEPTHS = (64, 128, 256, 512)


@dataclass(frozen=True)
class Unit:
    in_channels: int
    depth: int
    stride: int


def stages(units: Sequence[int] = IRSE50_UNITS, depths: Sequence[int] = IRSE50_DEPTHS,
           stem: int = 64) -> list[list[Unit]]:
    """The units of each stage: the first takes the previous depth and has stride 2, the rest stride 1."""
    out, prev = [], stem
    for n, depth in zip(units, depths, strict=True):
        out.append([Unit(prev, depth, 2)] + [Unit(depth, depth, 1) for _ in range(n - 1)])
        prev = depth
    return out


class SEModule(nn.Module):
    """Squeeze-and-excitation: channels scaled by sigmoid(fc2(relu(fc1(avgpool(x)))))."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, max(1, channels // reduction), 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(max(1, channels // reduction), channels, 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class BottleneckIRSE(nn.Module):
    """BN-conv-PReLU-conv-BN-SE residual, plus a max-pool (same depth) or conv+BN shortcut."""

    def __init__(self, unit: Unit) -> None:
        super().__init__()
        c_in, depth, stride = unit.in_channels, unit.depth, unit.stride
        if c_in == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(c_in, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.Conv2d(c_in, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth), SEModule(depth, 16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


def input_layer(in_channels: int = 3, stem: int = 64) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.PReLU(stem))


def body(units: Sequence[int] = IRSE50_UNITS, depths: Sequence[int] = IRSE50_DEPTHS,
         stem: int = 64) -> tuple[nn.Sequential, list[int]]:
    """The body and the index of each stage's last unit (where the pSp encoder taps its features)."""
    layout = stages(units, depths, stem)
    modules = [BottleneckIRSE(u) for stage in layout for u in stage]
    ends, n = [], 0
    for stage in layout:
        n += len(stage)
        ends.append(n - 1)
    return nn.Sequential(*modules), ends


class ArcFace(nn.Module):
    """ArcFace IR-SE-50 at 112 px (TreB1eN's `Backbone`): an L2-normalised 512-d identity embedding."""

    def __init__(self, units: Sequence[int] = IRSE50_UNITS, depths: Sequence[int] = IRSE50_DEPTHS, stem: int = 64,
                 input_size: int = 112, embedding: int = 512, drop_ratio: float = 0.6) -> None:
        super().__init__()
        self.input_size = input_size
        self.input_layer = input_layer(3, stem)
        self.body, _ = body(units, depths, stem)
        side = input_size // 2 ** len(units)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(depths[-1]), nn.Dropout(drop_ratio), nn.Flatten(),
                                          nn.Linear(depths[-1] * side * side, embedding), nn.BatchNorm1d(embedding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.output_layer(self.body(self.input_layer(x)))
        return x / x.norm(dim=1, keepdim=True)
