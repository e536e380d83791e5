"""Tiny PARASOL pieces for tests and benchmarks: the untrained `parasol/tiny` model and a synthetic triplet set.

`tiny_model`: the tiny SD1.5-layout U-Net and VAE (32 px images, 16x16 latents, 16-wide cross-attention) with
the tiny ALADIN (16-d) and tiny open_clip (32-d, with a text side) encoders and a seeded conditioner. Its
outputs are noise-like: it checks the algorithm's invariants, never image quality.

`synthetic_triplets`: small PNGs where each image is one of a few *contents* (a shape at a place) drawn in
one of a few *styles* (palette and stripe texture), written with a `triplets.jsonl` manifest in the mining
schema: x = (content i, style j), y = the same content in another style, s = another content in x's style.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from indexer.triplet_manifest import JSONL_FILE, write_jsonl

from .data import Triplet
from .network import ParasolModel
from .models import TINY_BASE, TINY_ENCODERS, build_model


def tiny_model(device: str = "cpu", seed: int = 0) -> ParasolModel:
    """`parasol/tiny`: tiny base, tiny ALADIN + tiny open_clip, untrained conditioner from `seed`; eval mode."""
    model = build_model(TINY_BASE, *TINY_ENCODERS, device, seed=seed)
    model.unet.eval()
    model.conditioner.eval()
    return model


def _render(content: int, style: int, size: tuple[int, int], rng_seed: int) -> Image.Image:
    rng = np.random.default_rng(1000 * style + 7)
    bg, fg, stripe = (tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(3))
    w, h = size
    image = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(image)
    period = 3 + style % 4
    for x0 in range(0, w, period * 2):
        draw.rectangle([x0, 0, x0 + period - 1, h], fill=stripe)
    place = np.random.default_rng(content + 31)
    cx, cy = (int(v) for v in place.integers(w // 4, 3 * w // 4, 2))
    r = int(place.integers(w // 8, w // 4))
    shape = [cx - r, cy - r, cx + r, cy + r]
    (draw.ellipse if content % 2 == 0 else draw.rectangle)(shape, fill=fg)
    noise = np.random.default_rng(rng_seed).integers(-6, 7, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8))


def synthetic_triplets(folder: str | Path, n: int = 4, contents: int = 3, styles: int = 3,
                       size: tuple[int, int] = (40, 36), seed: int = 0) -> list[Triplet]:
    """Write n triplets' images and `triplets.jsonl` into `folder`; return the triplets (absolute paths)."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    triplets, rows = [], []
    for i in range(n):
        c, s = i % contents, (i // contents + i) % styles
        paths = {}
        for role, (ci, si) in (("x", (c, s)), ("y", (c, (s + 1) % styles)), ("s", ((c + 1) % contents, s))):
            path = root / f"{i:03d}_{role}.png"
            _render(ci, si, size, seed * 7919 + 3 * i + len(paths)).save(path)
            paths[role] = str(path.resolve())
        triplets.append(Triplet(paths["x"], paths["y"], paths["s"]))
        rows.append({"x_id": 3 * i + 1, "x_path": paths["x"], "y_id": 3 * i + 2, "y_path": paths["y"],
                     "s_id": 3 * i + 3, "s_path": paths["s"], "s_style_sim": None, "s_content_sim": None,
                     "y_content_sim": None, "y_style_sim": None})
    write_jsonl(rows, root / JSONL_FILE)
    return triplets
