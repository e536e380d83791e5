"""StyleGAN2 (Karras et al. 2020) generator and discriminator, laid out like rosinality's stylegan2-pytorch,
which DualStyleGAN builds on: the module and parameter names are those of its checkpoints (`style.N`,
`input.input`, `conv1`, `to_rgb1`, `convs.N`, `to_rgbs.N`, `noises.noise_N`), so they load strictly.

Equalised learning rate: weights are stored N(0, 1) (divided by lr_mul) and scaled at run time by
1/sqrt(fan_in) (times lr_mul). A modulated convolution scales the weight's input channels by the style (an
affine map of w, bias 1), then demodulates each output channel to unit norm; batches run as one grouped
convolution. Layer k of the synthesis network takes row k of the (n_latent, style_dim) latent: conv1 row 0,
to_rgb1 row 1, then per resolution conv-up row i, conv row i + 1, to_rgb row i + 2 (i = 1, 3, 5, ...).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .ops import Blur, FusedLeakyReLU, Upsample, fused_leaky_relu

BLUR = (1, 3, 3, 1)


def default_channels(channel_multiplier: int = 2) -> dict[int, int]:
    """Feature maps per resolution of config-f (channel_multiplier 2)."""
    m = channel_multiplier
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * m, 128: 128 * m, 256: 64 * m, 512: 32 * m, 1024: 16 * m}


class PixelNorm(nn.Module):
    """x / sqrt(mean(x^2) + 1e-8) over the feature dimension."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate; `activation="fused_lrelu"` adds the fused activation."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: str | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class ModulatedConv2d(nn.Module):
    """Style-modulated (and by default demodulated) convolution; optional x2 up- or downsampling."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, downsample: bool = False, blur_kernel: Sequence[int] = BLUR) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.upsample, self.downsample, self.demodulate = upsample, downsample, demodulate
        taps = len(blur_kernel)
        if upsample:
            p = (taps - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        if downsample:
            p = (taps - 2) + (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2, p // 2))
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, in_ch, h, w = x.shape
        s = self.modulation(style).view(batch, 1, in_ch, 1, 1)
        weight = self.scale * self.weight * s
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(batch, self.out_channels, 1, 1, 1)
        k = self.kernel_size
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(batch * in_ch, self.out_channels, k, k)
            out = F.conv_transpose2d(x.reshape(1, batch * in_ch, h, w), weight, stride=2, groups=batch)
            return self.blur(out.view(batch, self.out_channels, *out.shape[-2:]))
        weight = weight.view(batch * self.out_channels, in_ch, k, k)
        if self.downsample:
            x = self.blur(x)
            out = F.conv2d(x.reshape(1, batch * in_ch, *x.shape[-2:]), weight, stride=2, groups=batch)
        else:
            out = F.conv2d(x.reshape(1, batch * in_ch, h, w), weight, padding=self.padding, groups=batch)
        return out.view(batch, self.out_channels, *out.shape[-2:])


class NoiseInjection(nn.Module):
    """x + weight * noise (one learned scalar); fresh N(0, 1) noise when none is given."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = x.new_empty(x.shape[0], 1, *x.shape[-2:]).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    """The learned 4x4 constant the synthesis network starts from."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)


class StyledConv(nn.Module):
    """Modulated conv + noise + fused bias/leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 blur_kernel: Sequence[int] = BLUR) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation) + bias, added to the upsampled previous RGB skip."""

    def __init__(self, in_channels: int, style_dim: int, upsample: bool = True, blur_kernel: Sequence[int] = BLUR):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        return out if skip is None else out + self.upsample(skip)


def n_latent_for(size: int) -> int:
    """Latent rows of a generator of `size` px: 2 log2(size) - 2 (18 at 1024)."""
    return int(math.log2(size)) * 2 - 2


class Generator(nn.Module):
    """The StyleGAN2 generator: mapping network `style` (PixelNorm + n_mlp FC) and the synthesis network."""

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: int = 2,
                 blur_kernel: Sequence[int] = BLUR, lr_mlp: float = 0.01, channels: dict[int, int] | None = None):
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"size must be a power of two >= 8, got {size}")
        self.size, self.style_dim = size, style_dim
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp,
                                                              activation="fused_lrelu") for _ in range(n_mlp)])
        self.channels = dict(channels or default_channels(channel_multiplier))
        self.log_size = int(math.log2(size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = n_latent_for(size)
        self.input = ConstantInput(self.channels[4])
        self.conv1 = StyledConv(self.channels[4], self.channels[4], 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(self.channels[4], style_dim, upsample=False)
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        in_ch = self.channels[4]
        for i in range(3, self.log_size + 1):
            out_ch = self.channels[2 ** i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_ch, out_ch, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_ch, style_dim))
            in_ch = out_ch

    def make_noise(self, batch: int = 1, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Per-layer N(0, 1) noise maps (drawn on the CPU from `generator`, then moved to the model's device)."""
        ref = self.input.input
        return [torch.randn(batch, 1, *n.shape[-2:], generator=generator).to(ref.device, ref.dtype)
                for n in self.stored_noise()]

    def stored_noise(self) -> list[torch.Tensor]:
        """The checkpoint's fixed noise buffers, layer by layer."""
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def map_zplus(self, z: torch.Tensor) -> torch.Tensor:
        """Map every row of a Z+ code (batch, rows, dim) through the mapping network (-> W+)."""
        b, rows, d = z.shape
        return self.style(z.reshape(b * rows, d)).reshape(b, rows, -1)

    def latents(self, styles: Sequence[torch.Tensor], input_is_latent: bool = False, z_plus_latent: bool = False,
                truncation: float = 1.0, truncation_latent: torch.Tensor | float | None = None,
                inject_index: int | None = None) -> torch.Tensor:
        """The (batch, n_latent, dim) W+ latent of one or two style codes (two: mixed at `inject_index`).

        Each code is z (batch, dim), Z+ (batch, rows, dim) with `z_plus_latent`, or already W/W+ with
        `input_is_latent`. Truncation moves W towards `truncation_latent` (0 when None, as DualStyleGAN's
        scripts use it)."""
        if not input_is_latent:
            styles = [self.map_zplus(s) if z_plus_latent else self.style(s) for s in styles]
        if truncation < 1:
            centre = 0.0 if truncation_latent is None else truncation_latent
            styles = [centre + truncation * (s - centre) for s in styles]
        full = [s if s.ndim == 3 else s.unsqueeze(1).repeat(1, self.n_latent, 1) for s in styles]
        if len(full) == 1:
            return full[0]
        if inject_index is None:
            raise ValueError("two style codes need an inject_index")
        return torch.cat([full[0][:, :inject_index], full[1][:, inject_index:]], 1)

    def synthesis_noise(self, noise: Sequence[torch.Tensor | None] | None, randomize_noise: bool) -> list:
        if noise is not None:
            return list(noise)
        return [None] * self.num_layers if randomize_noise else self.stored_noise()

    def forward(self, styles: Sequence[torch.Tensor], return_latents: bool = False, inject_index: int | None = None,
                truncation: float = 1.0, truncation_latent: torch.Tensor | float | None = None,
                input_is_latent: bool = False, noise: Sequence[torch.Tensor | None] | None = None,
                randomize_noise: bool = True, z_plus_latent: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(image in about [-1, 1], the W+ latent when `return_latents`); arguments as rosinality's."""
        latent = self.latents(styles, input_is_latent, z_plus_latent, truncation, truncation_latent, inject_index)
        noise = self.synthesis_noise(noise, randomize_noise)
        out = self.conv1(self.input(latent.shape[0]), latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv_up, conv, rgb, n1, n2 in zip(self.convs[::2], self.convs[1::2], self.to_rgbs, noise[1::2],
                                              noise[2::2], strict=True):
            out = conv(conv_up(out, latent[:, i], n1), latent[:, i + 1], n2)
            skip = rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip, (latent if return_latents else None)


class ConvLayer(nn.Sequential):
    """[Blur] + EqualConv2d + [FusedLeakyReLU]: indices 0/1 (no downsampling) as the checkpoints have them."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[int] = BLUR, bias: bool = True, activate: bool = True) -> None:
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels, bias=bias))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Discriminator residual block: two convs (the second downsamples) + a 1x1 downsampling skip, / sqrt 2."""

    def __init__(self, in_channels: int, out_channels: int, blur_kernel: Sequence[int] = BLUR) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True)
        self.skip = ConvLayer(in_channels, out_channels, 1, downsample=True, activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class Discriminator(nn.Module):
    """The StyleGAN2 residual discriminator with the minibatch standard-deviation layer (group 4)."""

    def __init__(self, size: int, channel_multiplier: int = 2, blur_kernel: Sequence[int] = BLUR,
                 channels: dict[int, int] | None = None) -> None:
        super().__init__()
        ch = dict(channels or default_channels(channel_multiplier))
        log_size = int(math.log2(size))
        convs: list[nn.Module] = [ConvLayer(3, ch[size], 1)]
        in_ch = ch[size]
        for i in range(log_size, 2, -1):
            convs.append(ResBlock(in_ch, ch[2 ** (i - 1)], blur_kernel))
            in_ch = ch[2 ** (i - 1)]
        self.convs = nn.Sequential(*convs)
        self.stddev_group, self.stddev_feat = 4, 1
        self.final_conv = ConvLayer(in_ch + 1, ch[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 16, ch[4], activation="fused_lrelu"),
                                          EqualLinear(ch[4], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.convs(x)
        b, c, h, w = out.shape
        group = min(b, self.stddev_group)
        while b % group:  # the group must divide the batch
            group -= 1
        std = out.view(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
        out = torch.cat([out, std.repeat(group, 1, h, w)], 1)
        return self.final_linear(self.final_conv(out).view(b, -1))

