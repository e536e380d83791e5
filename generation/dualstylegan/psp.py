"""The pSp encoder (Richardson et al. 2021, pixel2style2pixel) as DualStyleGAN uses it: a face image at 256 px
-> a Z+ code, one 512-d row per StyleGAN layer (18 x 512 at 1024 px). DualStyleGAN retrained it to embed in
Z+ rather than W+ (more robust to non-face details); E(I) is then the intrinsic code of a photo and E(S)
the initial extrinsic code of a portrait.

GradualStyleEncoder: an IR-SE-50 body; feature pyramid taps at the ends of stages 2, 3, 4 (c1, c2, c3);
rows 0-2 come from c3 (coarse), rows 3-6 from p2 = up(c3) + lat1(c2), rows 7-17 from p1 = up(p2) + lat2(c1),
each through a `GradualStyleBlock` (stride-2 convs to 1x1, LeakyReLU 0.01, one equalised FC).

`encoder.pt` holds `state_dict` (`encoder.*` and the pSp decoder `decoder.*`, an FFHQ StyleGAN2), `opts`
and `latent_avg`. Only the encoder runs here: the decoder is g, which DualStyleGAN already contains as its
intrinsic path; its weights are checked for names and shapes when loading and then dropped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .irse import IRSE50_DEPTHS, IRSE50_UNITS, body, input_layer
from .stylegan2 import EqualLinear

COARSE, MIDDLE = 3, 7  # rows [0, 3) from c3, [3, 7) from p2, the rest from p1


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of a pSp GradualStyleEncoder; the defaults are the released encoder.pt's."""

    n_styles: int = 18
    style_dim: int = 512
    input_size: int = 256
    units: tuple[int, ...] = IRSE50_UNITS
    depths: tuple[int, ...] = IRSE50_DEPTHS
    stem: int = 64
    input_nc: int = 3


class GradualStyleBlock(nn.Module):
    """log2(spatial) stride-2 3x3 convs down to 1x1, then an equalised FC."""

    def __init__(self, in_c: int, out_c: int, spatial: int) -> None:
        super().__init__()
        self.out_c = out_c
        layers: list[nn.Module] = []
        for i in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(in_c if i == 0 else out_c, out_c, 3, stride=2, padding=1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_c, out_c, lr_mul=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).reshape(-1, self.out_c))


class GradualStyleEncoder(nn.Module):
    """Feature-pyramid encoder into n_styles rows (pSp's `GradualStyleEncoder(50, 'ir_se')`)."""

    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        super().__init__()
        c = config
        if len(c.units) != 4:
            raise ValueError("the pSp encoder taps stages 2-4 of a four-stage IR-SE body")
        self.input_layer = input_layer(c.input_nc, c.stem)
        self.body, self.stage_ends = body(c.units, c.depths, c.stem)
        top = c.depths[3]
        side = c.input_size // 16  # c3's spatial size; p2 and p1 are 2x and 4x that
        self.styles = nn.ModuleList(
            GradualStyleBlock(top, c.style_dim, side if i < COARSE else side * 2 if i < MIDDLE else side * 4)
            for i in range(c.n_styles))
        self.latlayer1 = nn.Conv2d(c.depths[2], top, 1)
        self.latlayer2 = nn.Conv2d(c.depths[1], top, 1)
        self.n_styles = c.n_styles

    @staticmethod
    def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_layer(x)
        taps = {}
        for i, unit in enumerate(self.body):
            x = unit(x)
            taps[i] = x
        c1, c2, c3 = (taps[self.stage_ends[s]] for s in (1, 2, 3))
        p2 = self._upsample_add(c3, self.latlayer1(c2))
        p1 = self._upsample_add(p2, self.latlayer2(c1))
        rows = [blk(c3 if i < COARSE else p2 if i < MIDDLE else p1) for i, blk in enumerate(self.styles)]
        return torch.stack(rows, dim=1)


class PSPEncoder(nn.Module):
    """`encoder` (GradualStyleEncoder) + the optional latent average added to its codes.

    `encode(images)` takes RGB in [-1, 1], any size (average-pooled or resized to the input size) and returns
    (batch, n_styles, style_dim) Z+ codes."""

    def __init__(self, config: EncoderConfig = EncoderConfig(), start_from_latent_avg: bool = False,
                 learn_in_w: bool = False) -> None:
        super().__init__()
        self.config = config
        self.encoder = GradualStyleEncoder(config)
        self.start_from_latent_avg, self.learn_in_w = start_from_latent_avg, learn_in_w
        self.register_buffer("latent_avg", torch.zeros(config.n_styles, config.style_dim), persistent=False)

    def set_latent_avg(self, latent_avg: torch.Tensor | None) -> None:
        if latent_avg is None:
            if self.start_from_latent_avg:
                raise ValueError("the encoder's options say start_from_latent_avg but it has no latent_avg")
            return
        avg = latent_avg.reshape(-1, self.config.style_dim).to(self.latent_avg)
        self.latent_avg = avg.expand(self.config.n_styles, -1).clone() if avg.shape[0] == 1 else avg

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        size = self.config.input_size
        if images.shape[-2:] != (size, size):
            h, w = images.shape[-2:]
            if h % size == 0 and w % size == 0 and h == w:
                images = F.adaptive_avg_pool2d(images, size)  # what the official scripts do from 1024 px
            else:
                images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                                       antialias=True)
        codes = self.encoder(images)
        if self.start_from_latent_avg:
            codes = codes + self.latent_avg.to(codes.dtype)
        return codes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encode(images)


def config_from_opts(opts: dict, style_dim: int = 512) -> tuple[EncoderConfig, bool, bool]:
    """(config, start_from_latent_avg, learn_in_w) from encoder.pt's `opts`; refuses encoder types other
    than the GradualStyleEncoder DualStyleGAN released."""
    kind = opts.get("encoder_type", "GradualStyleEncoder")
    if kind != "GradualStyleEncoder":
        raise ValueError(f"encoder_type {kind!r} is not supported (DualStyleGAN's encoder.pt is a GradualStyleEncoder)")
    size = int(opts.get("output_size", 1024))
    n_styles = int(math.log2(size)) * 2 - 2
    config = EncoderConfig(n_styles=n_styles, style_dim=style_dim, input_nc=int(opts.get("input_nc", 3)))
    return config, bool(opts.get("start_from_latent_avg", False)), bool(opts.get("learn_in_w", False))


def encoder_state(full: dict[str, torch.Tensor], prefix: str = "encoder.") -> dict[str, torch.Tensor]:
    """The `encoder.*` entries of a pSp state dict, prefix removed."""
    return {k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}


def split_psp_state(full: dict[str, torch.Tensor]) -> tuple[dict, dict, list[str]]:
    """(encoder entries, decoder entries, anything else) of a pSp checkpoint's state dict."""
    enc = encoder_state(full, "encoder.")
    dec = encoder_state(full, "decoder.")
    other = [k for k in full if not k.startswith(("encoder.", "decoder."))]
    return enc, dec, other

