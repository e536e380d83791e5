"""DualStyleGAN (Yang et al., CVPR 2022; METHODS.md section 5): a frozen StyleGAN2 (the intrinsic style path)
plus an extrinsic style path, laid out like the official code so `generator.pt`'s `g_ema` loads strictly:

- `generator`: the StyleGAN2 generator g (intrinsic path, frozen during fine-tuning);
- `style`: the structure transform blocks T_s (PixelNorm + n_mlp - 6 equalised FC layers, lr_mul 0.01);
- `res.k`, one module per latent row k: for the structure layers k <= res_index (rows 0-6 = the paper's
  layers 1-7 at 4-32 px) a modulative residual block ModRes (two 3x3 convs, each after an AdaIN whose
  scale/shift come from T_s(extrinsic code)), added after layer k's conv as  x + w_k * residual;
  for the colour layers k > res_index (rows 7-17 = layers 8-18) a colour transform T_c (one equalised FC)
  whose output replaces the intrinsic style of layer k as  w_k * T_c(extrinsic_k) + (1 - w_k) * intrinsic_k
  (the affine A of the StyleGAN layer then turns it into the AdaIN style).

With w = 0 every ModRes returns its input unchanged and every colour layer takes the intrinsic style, so
G(z, ., 0) is exactly g(z). Stage-I initialisation (`stage1_init`) sets the ModRes convs near 0 and T_c to the
identity, so G(z1, f(z2), 1) is g's style mixing with rows 0-6 from z1 and rows 7-17 from z2.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext

import torch
from torch import nn

from .stylegan2 import ConvLayer, EqualLinear, Generator, PixelNorm

MODRES_INIT_SCALE = 0.01   # "convolution filters close to 0" (the official init multiplies them by 0.01)
IDENTITY_JITTER = 0.01     # T_c = identity plus N(0, 0.01^2) (official init)


class AdaptiveInstanceNorm(nn.Module):
    """Instance norm, then per-channel scale and shift from a plain linear map of the style (bias 1 / 0)."""

    def __init__(self, channels: int, style_dim: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.style = nn.Linear(style_dim, channels * 2)
        with torch.no_grad():
            self.style.bias[:channels] = 1
            self.style.bias[channels:] = 0

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.style(style)[..., None, None].chunk(2, 1)
        return gamma * self.norm(x) + beta


class ModRes(nn.Module):
    """Modulative residual block: x + w * conv2(AdaIN2(conv(AdaIN(x, s)), s)); w = 0 returns x itself."""

    def __init__(self, channels: int, style_dim: int) -> None:
        super().__init__()
        self.conv = ConvLayer(channels, channels, 3)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.norm = AdaptiveInstanceNorm(channels, style_dim)
        self.norm2 = AdaptiveInstanceNorm(channels, style_dim)
        init_modres(self)

    def residual(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.norm2(self.conv(self.norm(x, s)), s))

    def forward(self, x: torch.Tensor, s: torch.Tensor, w: float = 1.0) -> torch.Tensor:
        if w == 0:
            return x
        return self.residual(x, s) * w + x


def init_modres(block: ModRes, scale: float = MODRES_INIT_SCALE) -> None:
    """Scale the block's conv filters by `scale` (near 0: negligible residual features)."""
    with torch.no_grad():
        block.conv[0].weight.mul_(scale)
        block.conv2[0].weight.mul_(scale)


def identity_init(linear: EqualLinear, jitter: float = IDENTITY_JITTER) -> None:
    """Set an equalised FC layer to the identity map (plus N(0, jitter^2) on the stored weight), bias 0."""
    n = linear.weight.shape[0]
    with torch.no_grad():
        eye = torch.eye(n, device=linear.weight.device, dtype=linear.weight.dtype) * math.sqrt(n)
        linear.weight.copy_(eye + torch.randn_like(linear.weight) * jitter if jitter else eye)
        if linear.bias is not None:
            linear.bias.zero_()


class DualStyleGAN(nn.Module):
    """G(intrinsic, extrinsic, w). `DualStyleGAN(1024, 512, 8, 2, res_index=6)` is the released model."""

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: int = 2,
                 res_index: int = 6, channels: dict[int, int] | None = None) -> None:
        super().__init__()
        if n_mlp < 6:
            raise ValueError(f"n_mlp must be >= 6 (T_s has n_mlp - 6 layers), got {n_mlp}")
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=0.01,
                                                              activation="fused_lrelu") for _ in range(n_mlp - 6)])
        self.generator = Generator(size, style_dim, n_mlp, channel_multiplier, channels=channels)
        self.res_index = res_index // 2 * 2
        if not 0 <= self.res_index < self.generator.n_latent - 1:
            raise ValueError(f"res_index {res_index} leaves no colour layers for a {size} px generator")
        ch = self.generator.channels
        self.res = nn.ModuleList([ModRes(ch[4], style_dim)])
        for i in range(3, self.generator.log_size + 1):
            for _ in range(2):
                if i < 3 + self.res_index // 2:
                    self.res.append(ModRes(ch[2 ** i], style_dim))
                else:
                    self.res.append(EqualLinear(style_dim, style_dim))
                    identity_init(self.res[-1])
        self.res.append(EqualLinear(style_dim, style_dim))  # the last to_rgb's row
        identity_init(self.res[-1])
        self.size, self.style_dim = size, style_dim
        self.n_latent = self.generator.n_latent

    @property
    def structure_layers(self) -> range:
        """Latent rows handled by ModRes blocks (0-6 = the paper's layers 1-7)."""
        return range(0, self.res_index + 1)

    @property
    def colour_layers(self) -> range:
        """Latent rows handled by colour transforms (7-17 = the paper's layers 8-18)."""
        return range(self.res_index + 1, self.n_latent)

    def map_extrinsic(self, code: torch.Tensor) -> torch.Tensor:
        """An extrinsic code in Z+ (batch, rows, dim) -> W+ through g's mapping network f (as the released
        scripts feed the extrinsic path)."""
        return self.generator.map_zplus(code)

    def forward(self, styles: Sequence[torch.Tensor], exstyles: torch.Tensor | None, return_latents: bool = False,
                inject_index: int | None = None, truncation: float = 1.0,
                truncation_latent: torch.Tensor | float | None = None, input_is_latent: bool = False,
                noise: Sequence[torch.Tensor | None] | None = None, randomize_noise: bool = True,
                z_plus_latent: bool = False, use_res: bool = True, fuse_index: int = 18,
                interp_weights: Sequence[float] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The image (and W+ latent). `styles`: intrinsic code(s) as in `Generator.latents`; `exstyles`: the
        extrinsic code in W+ (batch, n_latent, dim) or W (batch, dim); `interp_weights`: w, one per latent row
        (default all 1); `fuse_index`: rows above it skip the extrinsic path; `use_res=False`: plain g."""
        g = self.generator
        latent = g.latents(styles, input_is_latent, z_plus_latent, truncation, truncation_latent, inject_index)
        noise = g.synthesis_noise(noise, randomize_noise)
        weights = [1.0] * self.n_latent if interp_weights is None else [float(w) for w in interp_weights]
        if len(weights) < self.n_latent:
            raise ValueError(f"interp_weights needs {self.n_latent} entries, got {len(weights)}")
        if use_res:
            if exstyles is None:
                raise ValueError("the extrinsic path needs exstyles (or use_res=False)")
            ada = exstyles if exstyles.ndim == 3 else exstyles.unsqueeze(1).repeat(1, self.n_latent, 1)
            resstyles = self.style(ada.reshape(-1, ada.shape[-1])).reshape(ada.shape)

        def active(k: int) -> bool:
            return use_res and fuse_index >= max(k, 1)

        def style_of(k: int) -> torch.Tensor:
            if active(k) and k > self.res_index:
                return weights[k] * self.res[k](ada[:, k]) + (1 - weights[k]) * latent[:, k]
            return latent[:, k]

        def modres(k: int, x: torch.Tensor) -> torch.Tensor:
            return self.res[k](x, resstyles[:, k], weights[k]) if active(k) and k <= self.res_index else x

        out = modres(0, g.conv1(g.input(latent.shape[0]), latent[:, 0], noise[0]))
        skip = g.to_rgb1(out, latent[:, 1])
        k = 1
        for conv_up, conv, rgb, n1, n2 in zip(g.convs[::2], g.convs[1::2], g.to_rgbs, noise[1::2], noise[2::2],
                                              strict=True):
            out = modres(k, conv_up(out, style_of(k), n1))
            out = modres(k + 1, conv(out, style_of(k + 1), n2))
            skip = rgb(out, style_of(k + 2), skip)
            k += 2
        return skip, (latent if return_latents else None)


def stage1_init(model: DualStyleGAN, jitter: float = IDENTITY_JITTER, modres_scale: float = MODRES_INIT_SCALE,
                seed: int | None = None) -> None:
    """Progressive fine-tuning stage I (colour transfer in the source domain): re-initialise the extrinsic
    path so every ModRes has freshly drawn convs scaled to ~0 and every T_c is the identity (+ jitter).
    T_s and the AdaIN layers get fresh default weights too; the intrinsic generator is untouched."""
    ctx = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
    with ctx:
        if seed is not None:
            torch.manual_seed(seed)
        with torch.no_grad():
            for k, block in enumerate(model.res):
                if isinstance(block, ModRes):
                    fresh = ModRes(block.conv[0].weight.shape[0], model.style_dim).to(block.conv[0].weight)
                    block.load_state_dict(fresh.state_dict())
                    init_modres(block, modres_scale / MODRES_INIT_SCALE)  # fresh ones already carry 0.01
                else:
                    identity_init(block, jitter)
            for layer in model.style:
                if isinstance(layer, EqualLinear):
                    layer.weight.copy_(torch.randn_like(layer.weight) / layer.lr_mul)
                    layer.bias.zero_()

