"""DiffStyle's parameters: one JSON-serialisable dataclass and its validation.

Defaults are the paper's (METHODS.md section 3): gamma = 0.3, omega = 0.3, t_edit = 400, t_boost = 200 on
the 1000-step training schedule. The public code's script defaults differ (hs_coeff 0.9 as 1 - gamma,
omega 0, 1000 generation steps); we keep the paper's numbers and 50 + 50 steps, both parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..base import StylizeError


@dataclass
class Params:
    """Everything a run depends on besides the model, content, styles and seed (saved with every output).

    gamma: content weight of the normalised h-space slerp (0 = the style image's own reconstruction).
    omega: style calibration strength (0 = none, the plain asymmetric step; 1 = cancels the injection).
    t_edit / t_boost: injection for t >= t_edit; stochastic quality boosting for t <= t_boost (0 = off).
    inversion_steps / generation_steps: DDIM steps of the two passes.
    calibration_renorm: renormalise the calibrated x0 prediction to the original's std (the paper's).
    mask_box: [left, top, right, bottom] fractions of the image; content is injected only there (local
    style mixing). None = everywhere.
    height / width: None = the model's native size; content and style are resized to cover and cropped.
    """

    gamma: float = 0.3
    omega: float = 0.3
    t_edit: int = 400
    t_boost: int = 200
    inversion_steps: int = 50
    generation_steps: int = 50
    calibration_renorm: bool = True
    mask_box: list[float] | None = None
    height: int | None = None
    width: int | None = None
    colour_match: str = "none"


def _int(name: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise StylizeError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def _fraction(name: str, value: Any, high: float = 1.0) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0.0 <= value <= high:
        raise StylizeError(f"{name} must be a number in [0, {high:g}], got {value!r}")


def validate(p: Params, num_train_timesteps: int = 1000) -> None:
    """Refuse out-of-range or mistyped values with a StylizeError naming the parameter."""
    _fraction("gamma", p.gamma)
    _fraction("omega", p.omega, high=2.0)
    _int("t_edit", p.t_edit, 0, num_train_timesteps)
    _int("t_boost", p.t_boost, 0, num_train_timesteps)
    if p.t_boost > p.t_edit:
        raise StylizeError(f"t_boost ({p.t_boost}) must not exceed t_edit ({p.t_edit}): boosting comes after editing")
    _int("inversion_steps", p.inversion_steps, 1, num_train_timesteps)
    _int("generation_steps", p.generation_steps, 1, num_train_timesteps)
    if not isinstance(p.calibration_renorm, bool):
        raise StylizeError(f"calibration_renorm must be true or false, got {p.calibration_renorm!r}")
    if p.mask_box is not None:
        box = p.mask_box
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise StylizeError(f"mask_box must be [left, top, right, bottom] fractions, got {box!r}")
        for name, v in zip(("left", "top", "right", "bottom"), box, strict=True):
            _fraction(f"mask_box {name}", v)
        if not (box[0] < box[2] and box[1] < box[3]):
            raise StylizeError(f"mask_box needs left < right and top < bottom, got {list(box)}")
    for name in ("height", "width"):
        v = getattr(p, name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 8 <= v <= 4096):
            raise StylizeError(f"{name} must be None or an integer in [8, 4096], got {v!r}")
    if p.colour_match not in ("none", "style", "content"):
        raise StylizeError(f"colour_match must be none, style or content, got {p.colour_match!r}")
