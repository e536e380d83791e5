"""InstantStyle's parameters: one JSON-serialisable dataclass, its validation and default sizes.

Defaults follow the InstantStyle public code (guidance 5, 30 steps, style block only, ControlNet scale 0.6,
canny thresholds 50/200, its prompt suffix and negative prompt); `img2img_strength` is ours.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ..base import StylizeError
from ..checks import check_choice, check_colour_match, check_int, check_number

CONTENT_MODES = ("auto", "img2img", "controlnet")


@dataclass
class Params:
    """Everything a run depends on besides the model, content, styles and seed (saved with every output).

    style_scale / layout_scale: IP-Adapter scale on the style / layout blocks (layout 0 = style only).
    content_subtraction: k in  style = CLIP_image(style) - k * CLIP_text(content_description); 0 = off.
    content_description: what the *style image* shows, to subtract; default: the prompt.
    content_mode: for a content image, `img2img` (with img2img_strength), `controlnet` (canny edges of the
    content image, controlnet_scale) or `auto` (ControlNet when the stylizer has one).
    height / width: None = the model's default (content images keep their aspect ratio).
    style_blocks / layout_blocks: override the UNet family's block names (None = InstantStyle's).
    """

    prompt_suffix: str = "masterpiece, best quality, high quality"
    negative_prompt: str = ("text, watermark, lowres, low quality, worst quality, deformed, glitch, low contrast, "
                            "noisy, saturation, blurry")
    style_scale: float = 1.0
    layout_scale: float = 0.0
    content_subtraction: float = 0.0
    content_description: str | None = None
    guidance_scale: float = 5.0
    num_inference_steps: int = 30
    content_mode: str = "auto"
    img2img_strength: float = 0.7
    controlnet_scale: float = 0.6
    canny_low: float = 50.0
    canny_high: float = 200.0
    height: int | None = None
    width: int | None = None
    style_blocks: list[str] | None = None
    layout_blocks: list[str] | None = None
    colour_match: str = "none"


def _block_list(name: str, value: Any, allow_empty: bool) -> None:
    if value is None:
        return
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise StylizeError(f"{name} must be a list of block names like 'up_blocks.0.attentions.1', got {value!r}")
    if not value and not allow_empty:
        raise StylizeError(f"{name} must name at least one block")


def validate(p: Params) -> None:
    """Refuse out-of-range or mistyped values with a StylizeError naming the parameter."""
    for name in ("prompt_suffix", "negative_prompt"):
        if not isinstance(getattr(p, name), str):
            raise StylizeError(f"{name} must be a string")
    if p.content_description is not None and not isinstance(p.content_description, str):
        raise StylizeError("content_description must be a string or None")
    check_number("style_scale", p.style_scale, 0.0, 10.0)
    check_number("layout_scale", p.layout_scale, 0.0, 10.0)
    check_number("content_subtraction", p.content_subtraction, 0.0, 10.0)
    check_number("guidance_scale", p.guidance_scale, 0.0, 50.0)
    check_int("num_inference_steps", p.num_inference_steps, 1, 1000)
    check_choice("content_mode", p.content_mode, CONTENT_MODES)
    check_number("img2img_strength", p.img2img_strength, 0.0, 1.0, low_open=True)
    check_number("controlnet_scale", p.controlnet_scale, 0.0, 10.0)
    check_number("canny_low", p.canny_low, 0.0, 10000.0)
    check_number("canny_high", p.canny_high, float(p.canny_low), 10000.0)
    for name in ("height", "width"):
        v = getattr(p, name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 8 or v % 8 or v > 4096):
            raise StylizeError(f"{name} must be None or a multiple of 8 in [8, 4096], got {v!r}")
    _block_list("style_blocks", p.style_blocks, allow_empty=False)
    _block_list("layout_blocks", p.layout_blocks, allow_empty=True)
    check_colour_match(p.colour_match)


def resolve(p: Params, content_image: Image.Image | None, default_size: int, multiple: int) -> Params:
    """A validated copy with height/width filled in: the model default, or for a content image its aspect
    ratio at the default's area (rounded to `multiple`); one given side fixes the other by aspect."""
    validate(p)
    height, width = p.height, p.width
    if content_image is None:
        height, width = height or default_size, width or default_size
    elif height is None or width is None:
        w0, h0 = content_image.size
        if height is None and width is None:
            scale = default_size / math.sqrt(w0 * h0)
        else:
            scale = (width / w0) if width is not None else (height / h0)
        snap = (lambda v: max(multiple, round(v / multiple) * multiple))
        height = height if height is not None else snap(h0 * scale)
        width = width if width is not None else snap(w0 * scale)
    return dataclasses.replace(p, height=int(height), width=int(width),
                               style_blocks=list(p.style_blocks) if p.style_blocks is not None else None,
                               layout_blocks=list(p.layout_blocks) if p.layout_blocks is not None else None)
