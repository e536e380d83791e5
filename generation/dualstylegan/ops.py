"""StyleGAN2's two custom ops in plain PyTorch, so no CUDA extension is ever compiled.

- `upfirdn2d`: upsample by zero insertion, pad (negative = crop), filter with a 2-D FIR kernel (a true
  convolution), downsample by keeping every `down`-th sample. `upfirdn2d_reference` does exactly these four
  steps; the default fast path gets the same numbers with one depthwise `conv2d` (stride = down) or one
  depthwise `conv_transpose2d` (stride = up), which skips the zeros and the discarded samples. It is used on
  the CPU only: on an H200 the strided and transposed depthwise convolutions made a 1024 px transfer slower
  than the four steps (float16 0.049 s against 0.037 s; float32 0.037 s against 0.036 s), so CUDA tensors
  take the reference.
- `fused_leaky_relu`: bias add, leaky ReLU (slope 0.2), gain sqrt(2): the "fused_lrelu" activation.

The blur modules (`Upsample`, `Downsample`, `Blur`) keep their FIR kernel as a buffer named `kernel`, as the
released checkpoints store it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

SQRT2 = math.sqrt(2.0)
_FAST = {"enabled": True}


def set_fast_path(enabled: bool) -> None:
    """Use the conv-based `upfirdn2d` (True, the default) or the step-by-step reference (False)."""
    _FAST["enabled"] = bool(enabled)


def _pads(pad: Sequence[int]) -> tuple[int, int, int, int]:
    """(x0, x1, y0, y1) from a 2-tuple (same on both axes) or a 4-tuple."""
    if len(pad) == 2:
        return pad[0], pad[1], pad[0], pad[1]
    if len(pad) == 4:
        return tuple(pad)  # type: ignore[return-value]
    raise ValueError(f"pad must have 2 or 4 entries, got {pad!r}")


def _pad_or_crop(x: torch.Tensor, x0: int, x1: int, y0: int, y1: int) -> torch.Tensor:
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    h, w = x.shape[-2:]
    return x[..., max(-y0, 0): h - max(-y1, 0), max(-x0, 0): w - max(-x1, 0)]


def _depthwise(kernel: torch.Tensor, channels: int, like: torch.Tensor, flip: bool) -> torch.Tensor:
    k = torch.flip(kernel, [0, 1]) if flip else kernel
    return k.to(device=like.device, dtype=like.dtype)[None, None].expand(channels, 1, *k.shape).contiguous()


def upfirdn2d_reference(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
                        pad: Sequence[int] = (0, 0)) -> torch.Tensor:
    """The four steps literally: zero insertion, pad/crop, FIR convolution, decimation. (N, C, H, W)."""
    x0, x1, y0, y1 = _pads(pad)
    n, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros(n, c, h * up, w * up)
        y[..., ::up, ::up] = x
        x = y
    x = _pad_or_crop(x, x0, x1, y0, y1)
    x = F.conv2d(x, _depthwise(kernel, c, x, flip=True), groups=c)
    return x[..., ::down, ::down]


def _out_len(size: int, up: int, down: int, p0: int, p1: int, k: int) -> int:
    return (size * up + p0 + p1 - k) // down + 1


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: Sequence[int] = (0, 0)) -> torch.Tensor:
    """`upfirdn2d_reference`'s result, computed with one strided (transposed) depthwise convolution when the
    fast path is on and the case allows it (up or down is 1, and an upsampling pad fits the kernel)."""
    if not _FAST["enabled"] or x.is_cuda or (up > 1 and down > 1):
        return upfirdn2d_reference(x, kernel, up, down, pad)
    x0, x1, y0, y1 = _pads(pad)
    c = x.shape[1]
    kh, kw = kernel.shape
    if up == 1:
        x = _pad_or_crop(x, x0, x1, y0, y1)
        return F.conv2d(x, _depthwise(kernel, c, x, flip=True), stride=down, groups=c)
    # out[o] = sum_i x[i] k[o - up*i + (K - 1 - p0)]: a transposed convolution, shifted by K - 1 - p0
    qy, qx = kh - 1 - y0, kw - 1 - x0
    oh = _out_len(x.shape[-2], up, 1, y0, y1, kh)
    ow = _out_len(x.shape[-1], up, 1, x0, x1, kw)
    full_h, full_w = (x.shape[-2] - 1) * up + kh, (x.shape[-1] - 1) * up + kw
    if min(qy, qx) < 0 or qy + oh > full_h or qx + ow > full_w:
        return upfirdn2d_reference(x, kernel, up, down, pad)
    y = F.conv_transpose2d(x, _depthwise(kernel, c, x, flip=False), stride=up, groups=c)
    return y[..., qy: qy + oh, qx: qx + ow]


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None = None, negative_slope: float = 0.2,
                     scale: float = SQRT2) -> torch.Tensor:
    """leaky_relu(x + bias) * scale, the bias broadcast over dim 1 (channels or features)."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2))).to(x.dtype)
    return F.leaky_relu(x, negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    """The activation with its own learned bias (parameter `bias`, one per channel)."""

    def __init__(self, channels: int, bias: bool = True, negative_slope: float = 0.2, scale: float = SQRT2) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


def make_kernel(k: Sequence[float]) -> torch.Tensor:
    """A normalised 2-D FIR kernel (sum 1) from 1-D taps (outer product) or a 2-D list."""
    t = torch.tensor(k, dtype=torch.float32)
    if t.ndim == 1:
        t = t[None, :] * t[:, None]
    return t / t.sum()


class Upsample(nn.Module):
    """x2 (by default) upsampling with the blur kernel, gain factor^2 so a constant stays constant."""

    def __init__(self, kernel: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class Downsample(nn.Module):
    """x2 (by default) downsampling after the blur kernel."""

    def __init__(self, kernel: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel))
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, down=self.factor, pad=self.pad)


class Blur(nn.Module):
    """FIR blur with explicit padding (gain upsample_factor^2 after a transposed convolution)."""

    def __init__(self, kernel: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * upsample_factor ** 2)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)
