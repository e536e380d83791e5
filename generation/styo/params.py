"""StyO's stylize parameters (FCC at inference): one JSON-serialisable dataclass and its validation.

Defaults are the paper's: n_s = 3, n_c = 1, guidance scale 7.5, and the LDM's sampler (DDIM, 50 steps,
eta = 0). `strength` is ours: 1 starts from z_src^T at the schedule's first timestep, as the paper does;
lower values start later in the schedule (closer to the source, an img2img-like knob). `attention_control`
off keeps the recombined prompts but drops FCC's attention swap (the paper's ablation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..base import StylizeError

MAX_REPEAT = 20  # bounds the prompt building; the 77-token limit of CLIP is checked on the tokens


@dataclass
class Params:
    """Everything a StyO run depends on besides the fine-tuned model, the images and the seed.

    n_s / n_c: repetitions of the style / content identifier groups in the augmented prompts.
    guidance_scale: classifier-free guidance (<= 1: none). num_inference_steps: DDIM steps.
    attention_control: FCC's cross-attention control (the stylised pass takes the source pass's content
    columns). strength: fraction of the schedule to run (1 = from z_src^T, the paper's).
    height / width: None = the resolution the model was fine-tuned at.
    """

    n_s: int = 3
    n_c: int = 1
    guidance_scale: float = 7.5
    num_inference_steps: int = 50
    attention_control: bool = True
    strength: float = 1.0
    height: int | None = None
    width: int | None = None
    colour_match: str = "none"


def _int(name: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise StylizeError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def validate(p: Params) -> None:
    """Refuse out-of-range or mistyped values with a StylizeError naming the parameter."""
    _int("n_s", p.n_s, 1, MAX_REPEAT)
    _int("n_c", p.n_c, 1, MAX_REPEAT)
    g = p.guidance_scale
    if isinstance(g, bool) or not isinstance(g, (int, float)) or not math.isfinite(g) or not 0 <= g <= 50:
        raise StylizeError(f"guidance_scale must be a number in [0, 50], got {g!r}")
    _int("num_inference_steps", p.num_inference_steps, 1, 1000)
    if not isinstance(p.attention_control, bool):
        raise StylizeError(f"attention_control must be true or false, got {p.attention_control!r}")
    s = p.strength
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or not 0 < s <= 1:
        raise StylizeError(f"strength must be a number in (0, 1], got {s!r}")
    if int(p.num_inference_steps * s) < 1:
        raise StylizeError("num_inference_steps x strength must be at least 1 denoising step")
    for name in ("height", "width"):
        v = getattr(p, name)
        if v is not None:
            _int(name, v, 8, 4096)
    if p.colour_match not in ("none", "style", "content"):
        raise StylizeError(f"colour_match must be none, style or content, got {p.colour_match!r}")
