"""PARASOL's sampling parameters: one JSON-serialisable dataclass and its validation.

The review gives no default values for g_s, g_y or lambda; ours are 50 DDPM steps, lambda = 25 (half the
steps on y's own descriptors) and g_s = g_y = 3. `colour_match` (the paper's optional colour post-processing)
is off by default so that unchanged conditions give back y.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..base import StylizeError
from ..checks import (
    check_bool,
    check_choice,
    check_colour_match,
    check_int,
    check_number,
    check_optional_int,
)
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


def validate(p: Params, num_train_timesteps: int = 1000) -> None:
    """Refuse out-of-range or mistyped values with a StylizeError naming the parameter."""
    check_int("steps", p.steps, 1, num_train_timesteps)
    check_int("lam", p.lam, 0, p.steps)
    check_number("g_s", p.g_s, 0.0, 50.0)
    check_number("g_y", p.g_y, 0.0, 50.0)
    check_bool("invert", p.invert)
    check_choice("inversion_noise", p.inversion_noise, NOISE_MODES)
    if p.style_prompt is not None and (not isinstance(p.style_prompt, str) or not p.style_prompt.strip()):
        raise StylizeError(f"style_prompt must be None or non-empty text, got {p.style_prompt!r}")
    check_optional_int("height", p.height, 8, 4096)
    check_optional_int("width", p.width, 8, 4096)
    check_colour_match(p.colour_match)
