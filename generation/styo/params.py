"""StyO's stylize parameters (FCC at inference): one JSON-serialisable dataclass and its validation.

Defaults are the paper's: n_s = 3, n_c = 1, guidance scale 7.5, and the LDM's sampler (DDIM, 50 steps,
eta = 0). `strength` is ours: 1 starts from z_src^T at the schedule's first timestep, as the paper does;
lower values start later in the schedule (closer to the source, an img2img-like knob). `attention_control`
off keeps the recombined prompts but drops FCC's attention swap (the paper's ablation).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..base import StylizeError
from ..checks import check_bool, check_colour_match, check_int, check_number, check_optional_int

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


def validate(p: Params) -> None:
    """Refuse out-of-range or mistyped values with a StylizeError naming the parameter."""
    check_int("n_s", p.n_s, 1, MAX_REPEAT)
    check_int("n_c", p.n_c, 1, MAX_REPEAT)
    check_number("guidance_scale", p.guidance_scale, 0.0, 50.0)
    check_int("num_inference_steps", p.num_inference_steps, 1, 1000)
    check_bool("attention_control", p.attention_control)
    check_number("strength", p.strength, 0.0, 1.0, low_open=True)
    if int(p.num_inference_steps * p.strength) < 1:
        raise StylizeError("num_inference_steps x strength must be at least 1 denoising step")
    check_optional_int("height", p.height, 8, 4096)
    check_optional_int("width", p.width, 8, 4096)
    check_colour_match(p.colour_match)
