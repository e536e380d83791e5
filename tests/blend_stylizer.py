"""A small deterministic stylizer for tests of the generation plumbing (records, strips, CLI).

`blend` mixes the content image with the weight-blended mean colour of the style images (or a colour
made from a style vector), plus seeded noise so the seed visibly matters. No model, milliseconds per call.
`register_blend()` adds it to the generation registry under BLEND (idempotent).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image

import generation
from generation.base import ContentRef, StyleRef, Stylizer, normalized_weights
from generation.registry import GeneratorInfo

BLEND = "test-blend"


@dataclass
class BlendParams:
    strength: float = 0.6
    noise: float = 8.0
    size: int = 48
    colour_match: str = "none"


class BlendStylizer(Stylizer):
    name: ClassVar[str] = BLEND
    Params: ClassVar[type] = BlendParams

    def __init__(self, model: str = "blend-v1") -> None:
        self.model = model

    @property
    def model_ids(self) -> dict[str, str]:
        return {"blend": self.model}

    def _run(self, content: ContentRef, styles: list[StyleRef], params: Any, seed: int) -> list[Image.Image]:
        weights = normalized_weights(styles)
        colour = sum(w * _colour(s) for w, s in zip(weights, styles))
        base = np.asarray(content.image.convert("RGB").resize((params.size, params.size)), dtype=np.float64)
        noise = np.random.default_rng(seed).normal(0.0, params.noise, base.shape)
        out = (1 - params.strength) * base + params.strength * colour + noise
        return [Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))]


def _colour(style: StyleRef) -> np.ndarray:
    if style.image is not None:
        return np.asarray(style.image.convert("RGB"), dtype=np.float64).reshape(-1, 3).mean(axis=0)
    v = np.asarray(style.vector, dtype=np.float64).ravel()
    return 255.0 * (0.5 + 0.5 * np.tanh(v[:3] if v.size >= 3 else np.resize(v, 3)))


def _listing() -> list[GeneratorInfo]:
    return [GeneratorInfo(BLEND, "blend-v1", "test stylizer: content blended with the styles' colour", True)]


def register_blend() -> str:
    generation.register(BLEND, lambda model="blend-v1", **_: BlendStylizer(model), _listing)
    return BLEND
