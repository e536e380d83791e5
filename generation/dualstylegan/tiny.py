"""Seeded tiny DualStyleGAN parts for tests (random weights: they check the method's invariants, never image
quality), and the official checkpoint layout written from them.

The tiny generator keeps the real layout that matters: 1024 px, 18 latent rows, res_index 6 (ModRes on
rows 0-6, colour transforms on rows 7-17), with 1-16 channels and a 32-d style space. Its ModRes convs are
drawn at full scale (not the stage-I 0.01) so the structure path visibly acts, as in a fine-tuned model.
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .irse import ArcFace
from .losses import VGG19Features
from .network import DualStyleGAN, ModRes
from .psp import EncoderConfig, PSPEncoder
from .sampler import StyleSampler
from .stylegan2 import Generator

SIZE = 1024
STYLE_DIM = 32
CHANNELS = {4: 16, 8: 16, 16: 16, 32: 16, 64: 8, 128: 4, 256: 2, 512: 1, 1024: 1}
ENCODER = EncoderConfig(n_styles=18, style_dim=STYLE_DIM, input_size=32, units=(1, 1, 1, 1), depths=(8, 12, 16, 24),
                        stem=8)
N_CODES = 4
CODE_NAMES = tuple(f"tiny-{i:02d}.png" for i in range(N_CODES))


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def generator(seed: int = 0, size: int = SIZE) -> DualStyleGAN:
    """The tiny DualStyleGAN (eval mode), ModRes convs at full scale; `size` < 1024 gives fewer layers
    (training tests use 64 px: rows 0-6 structure, 7-9 colour)."""
    with seeded(seed):
        model = DualStyleGAN(size, STYLE_DIM, 8, res_index=6, channels={k: v for k, v in CHANNELS.items() if k <= size})
        with torch.no_grad():
            for block in model.res:
                if isinstance(block, ModRes):
                    block.conv[0].weight.normal_()
                    block.conv2[0].weight.normal_()
    return model.eval()


def encoder(seed: int = 1, n_styles: int = 18) -> PSPEncoder:
    """A tiny Z+ pSp encoder (32 px input, `n_styles` rows of 32)."""
    with seeded(seed):
        model = PSPEncoder(dataclasses.replace(ENCODER, n_styles=n_styles))
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def codes(seed: int = 2) -> OrderedDict[str, np.ndarray]:
    """N_CODES extrinsic codes, (1, 18, 32) float32 each, keyed by made-up image names."""
    rng = np.random.default_rng(seed)
    return OrderedDict((n, rng.standard_normal((1, 18, STYLE_DIM)).astype(np.float32)) for n in CODE_NAMES)


def sampler(seed: int = 3) -> StyleSampler:
    with seeded(seed):
        return StyleSampler(7, 11, STYLE_DIM, noise_dim=8, hidden=16).eval()


def finetuned(base: DualStyleGAN, seed: int = 4) -> Generator:
    """g': the tiny g with every synthesis conv perturbed (a stand-in for the fine-tuned StyleGAN)."""
    g = Generator(SIZE, STYLE_DIM, 8, channels=CHANNELS)
    g.load_state_dict(base.generator.state_dict())
    with seeded(seed), torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("conv.weight"):
                p.add_(0.3 * torch.randn_like(p))
    return g.eval()


def vgg(seed: int = 5) -> VGG19Features:
    with seeded(seed):
        return VGG19Features(width=1 / 16).eval()


def arcface(seed: int = 6) -> ArcFace:
    with seeded(seed):
        return ArcFace(units=(1, 1, 1, 1), depths=(8, 12, 16, 24), stem=8, embedding=16).eval()


@dataclass
class Parts:
    generator: DualStyleGAN
    encoder: PSPEncoder
    codes: OrderedDict[str, np.ndarray]
    sampler: StyleSampler
    finetuned: Generator
    vgg: VGG19Features
    arcface: ArcFace

    def optional(self) -> dict[str, Any]:
        return {"sampler": self.sampler, "finetuned": self.finetuned, "vgg": self.vgg, "arcface": self.arcface}


def build(seed: int = 0) -> Parts:
    """Every tiny part, each from its own seed offset."""
    g = generator(seed)
    return Parts(g, encoder(seed + 1), codes(seed + 2), sampler(seed + 3), finetuned(g, seed + 4), vgg(seed + 5),
                 arcface(seed + 6))


def write_official_layout(root: str | Path, style: str = "cartoon", seed: int = 0) -> Path:
    """Save the tiny parts as the released files are saved (torch.save of the same dicts, np.save of the
    codes dict) under root: encoder.pt, STYLE/generator.pt, STYLE/sampler.pt, STYLE/exstyle_code.npy and
    STYLE/refined_exstyle_code.npy. Returns the style folder."""
    parts = build(seed)
    root = Path(root)
    folder = root / style
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"g_ema": parts.generator.state_dict()}, folder / "generator.pt")
    state = {f"encoder.{k}": v for k, v in parts.encoder.encoder.state_dict().items()}
    state.update({f"decoder.{k}": v for k, v in parts.generator.generator.state_dict().items()})
    opts = {"encoder_type": "GradualStyleEncoder", "input_nc": 3, "output_size": SIZE, "start_from_latent_avg": False,
            "learn_in_w": False, "checkpoint_path": None}
    torch.save({"state_dict": state, "opts": opts, "latent_avg": torch.zeros(18, STYLE_DIM)}, root / "encoder.pt")
    torch.save({"color": parts.sampler.color.state_dict(), "structure": parts.sampler.structure.state_dict()},
               folder / "sampler.pt")
    np.save(folder / "exstyle_code.npy", dict(parts.codes))
    refined = {k: v + np.float32(0.1) for k, v in parts.codes.items()}
    np.save(folder / "refined_exstyle_code.npy", refined)
    return folder
