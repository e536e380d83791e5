"""DualStyleGAN's parameters: one JSON-serialisable dataclass and its validation.

Defaults are the paper's and the official scripts': w_c = 1, w_s per style set (cartoon 0.75, caricature 1,
anime [4*0, 3*0.75]; 0.75 for the other sets, the script default), truncation 0.75 (of the intrinsic code,
towards 0 in W, as `style_transfer.py` does), 100 steps of extrinsic-code refinement for an unseen exemplar
(lr 0.01 colour rows / 0.005 structure rows), 300 destylisation steps when the fine-tuned g' is here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..base import StylizeError
from ..checks import check_bool, check_choice, check_colour_match, check_int, check_number, check_optional_int

PRESERVE_COLOUR = ("none", "weights", "intrinsic")
ALIGN = ("auto", "landmarks", "centre")
CODE_SETS = ("auto", "refined", "raw")
LOSS_TERMS = ("perceptual", "contextual", "identity", "pixel_l2", "latent_spread", "noise")


@dataclass
class Params:
    """Everything a run depends on besides the model, content, styles and seed (saved with every output).

    style_id: a code of the model's style set, by index (as the official `--style_id`) or image file name;
    None: the extrinsic code comes from the given styles (a vector = a Z+ code of 18 x 512 values; an
    image = an unseen exemplar: encoded, destylised and refined). sample_style: draw it from the sampling
    network N instead (seeded). code_set: refined | raw codes for style_id (auto: refined when present).
    w_s / w_c: structure (layers 1-7) / colour (layers 8-18) weights of the extrinsic path; weights: the
    whole w (one value per layer); when given, w_s / w_c are not used. w_s None: the style set's default.
    preserve_colour: none | weights (w_c = 0, the paper's first way) | intrinsic (the last 11 extrinsic
    rows replaced by the intrinsic ones, the second way). truncation: of the intrinsic code (1 = none).
    align: auto (landmarks when a landmark model is here, else a centre crop) | landmarks | centre.
    exemplar_steps / destylise_steps: latent optimisation steps for an unseen style image (0 = E(S)
    only / no stage-II destylisation); lr_colour / lr_structure: their learning rates.
    exemplar_losses: the loss terms for an unseen exemplar image (None: every term whose weights are here; the
    record keeps the resolved list, which acts only when a style is such an image, and identity /
    latent_spread only when destylisation runs). output_size: resize the 1024 px result (None: native size).
    """

    style_id: int | str | None = None
    sample_style: bool = False
    code_set: Literal["auto", "refined", "raw"] = "auto"
    w_s: float | None = None
    w_c: float = 1.0
    weights: list[float] | None = None
    preserve_colour: Literal["none", "weights", "intrinsic"] = "none"
    truncation: float = 0.75
    align: Literal["auto", "landmarks", "centre"] = "auto"
    exemplar_steps: int = 100
    destylise_steps: int = 300
    lr_colour: float = 0.01
    lr_structure: float = 0.005
    exemplar_losses: list[str] | None = None
    output_size: int | None = None
    colour_match: str = "none"


def validate(p: Params, n_latent: int = 18) -> None:
    """Refuse out-of-range or mistyped values with a StylizeError naming the parameter."""
    if p.style_id is not None and (isinstance(p.style_id, bool) or not isinstance(p.style_id, (int, str))
                                   or (isinstance(p.style_id, int) and p.style_id < 0)):
        raise StylizeError(f"style_id must be None, an index >= 0 or an image name, got {p.style_id!r}")
    check_bool("sample_style", p.sample_style)
    if p.sample_style and p.style_id is not None:
        raise StylizeError("give style_id or sample_style, not both")
    check_choice("code_set", p.code_set, CODE_SETS)
    if p.w_s is not None:
        check_number("w_s", p.w_s, -2.0, 2.0)
    check_number("w_c", p.w_c, -2.0, 2.0)
    if p.weights is not None:
        if not isinstance(p.weights, (list, tuple)) or len(p.weights) != n_latent:
            raise StylizeError(f"weights must be a list of {n_latent} numbers (one per layer), got {p.weights!r}")
        for i, v in enumerate(p.weights):
            check_number(f"weights[{i}]", v, -2.0, 2.0)
    check_choice("preserve_colour", p.preserve_colour, PRESERVE_COLOUR)
    check_number("truncation", p.truncation, 0.0, 1.0)
    check_choice("align", p.align, ALIGN)
    check_int("exemplar_steps", p.exemplar_steps, 0, 10000)
    check_int("destylise_steps", p.destylise_steps, 0, 10000)
    check_number("lr_colour", p.lr_colour, 0.0, 10.0)
    check_number("lr_structure", p.lr_structure, 0.0, 10.0)
    if p.exemplar_losses is not None:
        if not isinstance(p.exemplar_losses, (list, tuple)) or not p.exemplar_losses:
            raise StylizeError(f"exemplar_losses must be None or a non-empty list of {LOSS_TERMS}")
        for term in p.exemplar_losses:
            check_choice("exemplar_losses", term, LOSS_TERMS)
    check_optional_int("output_size", p.output_size, 8, 4096)
    check_colour_match(p.colour_match)


def layer_weights(p: Params, n_latent: int, n_structure: int, default_w_s: tuple[float, ...]) -> list[float]:
    """The full w: `weights` when given (w_s / w_c are then not used), else w_s on the structure layers and
    w_c on the colour layers, w_s defaulting to the style set's (per layer, e.g. anime's [4*0, 3*0.75])."""
    if p.weights is not None:
        return [float(v) for v in p.weights]
    structure = [float(p.w_s)] * n_structure if p.w_s is not None else [float(v) for v in default_w_s]
    if len(structure) != n_structure:
        structure = (structure + [structure[-1]] * n_structure)[:n_structure]
    return structure + [float(p.w_c)] * (n_latent - n_structure)
