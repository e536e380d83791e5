"""DiffStyle's parameters: one JSON-serialisable dataclass and its validation.

Defaults are the paper's (METHODS.md section 3): gamma = 0.3, omega = 0.3, t_edit = 400, t_boost = 200 on
the 1000-step training schedule. The official code's argparse defaults differ (hs_coeff, which is gamma,
0.9; omega 0; 1000 generation steps); its script uses gamma 0.3 and, for in-domain styles, dt_lambda
0.9985. We keep the paper's numbers, 50-point grids and the official dt_lambda default (1.0 = off).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..base import StylizeError
from ..checks import check_bool, check_colour_match, check_int, check_number, check_optional_int


@dataclass
class Params:
    """Everything a run depends on besides the model, content, styles and seed (saved with every output).

    gamma: content weight of the normalised h-space slerp (0 = the style image's own reconstruction).
    omega: style calibration strength (0 = none, the plain asymmetric step; 1 = cancels the injection).
    t_edit / t_boost: injection for t >= t_edit; stochastic quality boosting for t <= t_boost (0 = off).
    inversion_steps / generation_steps: points of the two passes' timestep grids (the official code's
    n_inv_step / n_gen_step): inversion makes one UNet step fewer than its points, generation one per point.
    dt_lambda / dt_end: on the generation steps with t >= dt_end, the DDIM direction term is multiplied by
    dt_lambda, which takes a little of the noise direction out of the first, noisiest steps (the official
    code's time-step scaling; 1.0 = off, its default; its in-domain script uses 0.9985 with dt_end 950).
    Like there it acts on the plain and the asymmetric update, not on a style-calibrated step (omega > 0).
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
    dt_lambda: float = 1.0
    dt_end: int = 950
    mask_box: list[float] | None = None
    height: int | None = None
    width: int | None = None
    colour_match: str = "none"


def validate(p: Params, num_train_timesteps: int = 1000) -> None:
    """Refuse out-of-range or mistyped values with a StylizeError naming the parameter."""
    check_number("gamma", p.gamma, 0.0, 1.0)
    check_number("omega", p.omega, 0.0, 2.0)
    check_int("t_edit", p.t_edit, 0, num_train_timesteps)
    check_int("t_boost", p.t_boost, 0, num_train_timesteps)
    if p.t_boost > p.t_edit:
        raise StylizeError(f"t_boost ({p.t_boost}) must not exceed t_edit ({p.t_edit}): boosting comes after editing")
    check_int("inversion_steps", p.inversion_steps, 2, num_train_timesteps)
    check_int("generation_steps", p.generation_steps, 2, num_train_timesteps)
    check_bool("calibration_renorm", p.calibration_renorm)
    check_number("dt_lambda", p.dt_lambda, 0.0, 2.0, low_open=True)
    check_int("dt_end", p.dt_end, 0, num_train_timesteps)
    if p.mask_box is not None:
        box = p.mask_box
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise StylizeError(f"mask_box must be [left, top, right, bottom] fractions, got {box!r}")
        for name, v in zip(("left", "top", "right", "bottom"), box, strict=True):
            check_number(f"mask_box {name}", v, 0.0, 1.0)
        if not (box[0] < box[2] and box[1] < box[3]):
            raise StylizeError(f"mask_box needs left < right and top < bottom, got {list(box)}")
    check_optional_int("height", p.height, 8, 4096)
    check_optional_int("width", p.width, 8, 4096)
    check_colour_match(p.colour_match)
