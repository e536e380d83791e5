"""Build the right-shaped modules for a checkpoint by reading its shapes, so the released files (and any
DualStyleGAN / pSp trained at another size or width) load strictly into a model of exactly their layout.

The released generator infers to `DualStyleGAN(1024, 512, 8, 2, res_index=6)` and the released encoder to
the IR-SE-50 GradualStyleEncoder with 18 rows; a missing or renamed key used here is reported as a
CheckpointError, and every other key is then checked by `checkpoints.load_strict`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .checkpoints import CheckpointError
from .psp import EncoderConfig


@dataclass(frozen=True)
class GeneratorConfig:
    """DualStyleGAN's constructor arguments."""

    size: int = 1024
    style_dim: int = 512
    n_mlp: int = 8
    res_index: int = 6
    channels: tuple[tuple[int, int], ...] | None = None  # None: config-f channels

    def kwargs(self) -> dict:
        return dict(size=self.size, style_dim=self.style_dim, n_mlp=self.n_mlp, res_index=self.res_index,
                    channels=dict(self.channels) if self.channels else None)


def _count(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in state if (m := rx.fullmatch(k))})


def _shape(state: Mapping[str, torch.Tensor], key: str, what: str) -> torch.Size:
    if key not in state:
        raise CheckpointError(f"{what}: missing {key!r}, so this is not a DualStyleGAN/pSp checkpoint of the "
                              "official layout")
    return state[key].shape


def stylegan_config(state: Mapping[str, torch.Tensor], prefix: str = "generator.",
                    what: str = "generator") -> dict:
    """Generator(...) arguments (size, style_dim, n_mlp, channels) of a StyleGAN2 state dict under `prefix`."""
    style_dim = _shape(state, f"{prefix}style.1.weight", what)[0]
    p = re.escape(prefix)
    n_mlp = _count(state, rf"{p}style\.(\d+)\.weight")
    n_rgb = _count(state, rf"{p}to_rgbs\.(\d+)\.conv\.weight")
    if n_rgb < 1:
        raise CheckpointError(f"{what}: no {prefix}to_rgbs.* entries")
    channels = {4: int(_shape(state, f"{prefix}conv1.conv.weight", what)[1])}
    for i in range(n_rgb):
        channels[2 ** (i + 3)] = int(_shape(state, f"{prefix}convs.{2 * i}.conv.weight", what)[1])
    return dict(size=2 ** (n_rgb + 2), style_dim=int(style_dim), n_mlp=n_mlp, channels=channels)


def generator_config(state: Mapping[str, torch.Tensor], what: str = "generator") -> GeneratorConfig:
    """The DualStyleGAN layout of a `g_ema` state dict (size, widths, mapping depth, ModRes count)."""
    g = stylegan_config(state, "generator.", what)
    n_modres = _count(state, r"res\.(\d+)\.conv\.0\.weight")
    if n_modres < 1 or n_modres % 2 == 0:
        raise CheckpointError(f"{what}: expected an odd number of ModRes blocks (res.k.conv.*), found {n_modres}")
    return GeneratorConfig(size=g["size"], style_dim=g["style_dim"], n_mlp=g["n_mlp"], res_index=n_modres - 1,
                           channels=tuple(sorted(g["channels"].items())))


def encoder_config(state: Mapping[str, torch.Tensor], what: str = "encoder") -> EncoderConfig:
    """The GradualStyleEncoder layout of its state dict (prefix `encoder.` removed)."""
    stem = _shape(state, "input_layer.0.weight", what)
    n_units = _count(state, r"body\.(\d+)\.res_layer\.1\.weight")
    depths = [int(_shape(state, f"body.{i}.res_layer.1.weight", what)[0]) for i in range(n_units)]
    stages: list[list[int]] = []
    for d in depths:
        if stages and stages[-1][0] == d:
            stages[-1].append(d)
        else:
            stages.append([d])
    if len(stages) != 4:
        raise CheckpointError(f"{what}: expected four IR-SE stages of distinct widths, found widths {depths}")
    n_styles = _count(state, r"styles\.(\d+)\.linear\.weight")
    style_dim = _shape(state, "styles.0.linear.weight", what)[0]
    n_coarse_convs = _count(state, r"styles\.0\.convs\.(\d+)\.weight")
    return EncoderConfig(n_styles=n_styles, style_dim=int(style_dim), input_size=16 * 2 ** n_coarse_convs,
                         units=tuple(len(s) for s in stages), depths=tuple(s[0] for s in stages),
                         stem=int(stem[0]), input_nc=int(stem[1]))


def sampler_shapes(state: Mapping[str, torch.Tensor], style_dim: int, what: str = "sampler") -> dict:
    """StyleSampler arguments from a sampler state dict (`structure.*` and `color.*`)."""
    s_out = _shape(state, "structure.lin_out.weight", what)
    c_out = _shape(state, "color.lin_out.weight", what)
    noise_dim, hidden = _shape(state, "structure.lin1.weight", what)[1], s_out[1]
    if s_out[0] % style_dim or c_out[0] % style_dim:
        raise CheckpointError(f"{what}: output sizes {s_out[0]} / {c_out[0]} are not multiples of {style_dim}")
    return dict(structure_rows=s_out[0] // style_dim, colour_rows=c_out[0] // style_dim, style_dim=style_dim,
                noise_dim=int(noise_dim), hidden=int(hidden))

