"""PARASOL's sampling parameters: one JSON-serialisable dataclass and its validation.

The review gives no default values for g_s, g_y or lambda; ours are 50 DDPM steps, lambda = 25 (half the
steps on y's own descriptors) and g_s = g_y = 3. `colour_match` (the paper's optional colour post-processing)
is off by default so that unchanged conditions give back y.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..base import StylizeError
from .ddpm import NOISE_MODES


@dataclass
class Params:
    """Everything a run depends on besides the model, content, styles and seed (saved with every output).

    steps: DDPM sampling steps n (the inversion runs the forward process over the same n levels).
    lam: lambda, the number of denoising steps conditioned on the content image's own style and semantic
    descriptors before the style condition switches to the style image's m_s (lam = steps: never switch, the
    content image comes back; 0: switch from the start). With a content prompt the content condition switches
    to the prompt's descriptor at the same step.
    g_s / g_y: style / content guidance weights of the modality-specific classifier-free guidance.
    invert: start from the content image's inversion (its stored forward noises) so its structure is kept;
    False samples from seeded noise, the descriptors alone deciding the image.
    inversion_noise: "markov" (the forward chain the paper describes) or "independent" (edit-friendly DDPM's
    independent draws per level); both reconstruct exactly.
    style_prompt: text standing in for the style images, when the style encoder has a text side.
    height / width: None = the checkpoint's training resolution.
    """

    steps: int = 50
    lam: int = 25
    g_s: float = 3.0
    g_y: float = 3.0
    invert: bool = True
    inversion_noise: str = "markov"
    style_prompt: str | None = None
    height: int | None = None
    width: int | None = None
    colour_match: str = "none"


def _int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise StylizeError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def validate(p: Params, num_train_timesteps: int = 1000) -> None:
    """Refuse out-of-range or mistyped values with a StylizeError naming the parameter."""
    _int("steps", p.steps, 1, num_train_timesteps)
    _int("lam", p.lam, 0, p.steps)
    for name in ("g_s", "g_y"):
        v = getattr(p, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 50:
            raise StylizeError(f"{name} must be a number in [0, 50], got {v!r}")
    if not isinstance(p.invert, bool):
        raise StylizeError(f"invert must be true or false, got {p.invert!r}")
    if p.inversion_noise not in NOISE_MODES:
        raise StylizeError(f"inversion_noise must be one of {NOISE_MODES}, got {p.inversion_noise!r}")
    if p.style_prompt is not None and (not isinstance(p.style_prompt, str) or not p.style_prompt.strip()):
        raise StylizeError(f"style_prompt must be None or non-empty text, got {p.style_prompt!r}")
    for name in ("height", "width"):
        v = getattr(p, name)
        if v is not None:
            _int(name, v, 8, 4096)
    if p.colour_match not in ("none", "style", "content"):
        raise StylizeError(f"colour_match must be none, style or content, got {p.colour_match!r}")
