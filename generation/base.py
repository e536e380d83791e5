"""The one interface every stylizer implements, and the value types that cross it.

A stylizer takes a content (an image, or a text prompt for methods that can generate from text), one or
more weighted styles (images or style vectors), a seed and its own parameters dataclass, and returns
images plus a record of everything needed to make them again: the resolved parameters, the seed and the
model ids. Recording that in the catalog is `generation.records`' job, not the stylizer's.
"""
from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from PIL import Image

from indexer.limits import check_seed

ColourMatch = Literal["none", "style", "content"]


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: `done` of `total` steps after `elapsed` seconds; `eta` seconds still to go."""

    done: int
    total: int
    elapsed: float
    eta: float


ProgressCallback = Callable[[ProgressEvent], None]


class StylizeError(ValueError):
    """A stylize request is invalid for this method (wrong parameter, missing input, unusable style)."""


@dataclass(frozen=True)
class StyleRef:
    """One style of a request: an image or a style vector, with its interpolation weight.

    `source` says where it came from (`path:...`, `id:12`, `vector`) for the record; `sha256` pins the
    image bytes when known. Exactly one of `image` / `vector` is set.
    """

    image: Image.Image | None = None
    vector: np.ndarray | None = None
    weight: float = 1.0
    source: str = ""
    sha256: str | None = None

    def __post_init__(self) -> None:
        if (self.image is None) == (self.vector is None):
            raise StylizeError("a style is either an image or a vector, exactly one of them")
        if not np.isfinite(self.weight) or self.weight < 0:
            raise StylizeError(f"style weight must be a finite number >= 0, got {self.weight}")


@dataclass(frozen=True)
class ContentRef:
    """The content of a request: an image, a text prompt, or both (img2img with a prompt)."""

    image: Image.Image | None = None
    prompt: str | None = None
    source: str = ""
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.image is None and not (self.prompt or "").strip():
            raise StylizeError("content needs an image or a non-empty prompt")


@dataclass
class StylizeResult:
    """Images made by one call, and everything needed to make them again."""

    method: str
    images: list[Image.Image]
    params: dict[str, Any]
    seed: int
    model_ids: dict[str, str]


def normalized_weights(styles: list[StyleRef]) -> np.ndarray:
    """The styles' weights scaled to sum to 1 (float64). Refuses an empty list or an all-zero sum."""
    if not styles:
        raise StylizeError("at least one style is needed")
    w = np.array([s.weight for s in styles], dtype=np.float64)
    if w.sum() <= 0:
        raise StylizeError("style weights sum to 0; give at least one style a positive weight")
    return w / w.sum()


def params_from_dict(params_cls: type, values: dict[str, Any] | None) -> Any:
    """Build a parameters dataclass from a plain dict, refusing unknown keys by name."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(params_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise StylizeError(f"unknown parameter(s) {unknown} for {params_cls.__name__}; known: {sorted(known)}")
    return params_cls(**values)


class Stylizer(ABC):
    """Base of every method. Subclasses set `name`, `Params` (a dataclass) and implement `_run`.

    `Params` of every method carries at least `colour_match` (none | style | content): the colour
    post-processing step of PARASOL (METHODS.md 1d), applied here after `_run` so every method has it.
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    supports_prompt: ClassVar[bool] = False
    _on_progress: ProgressCallback | None = None  # set by `stylize` for the run under way

    @property
    @abstractmethod
    def model_ids(self) -> dict[str, str]:
        """The model ids (and weights tags) this instance runs, for the record."""

    def resolve_params(self, params: Any, content: ContentRef) -> Any:
        """Fill in defaults that depend on the model or the content (e.g. output size), so the record holds
        the values actually used. `params` is already a validated `self.Params`; the default keeps it."""
        return params

    @abstractmethod
    def _run(self, content: ContentRef, styles: list[StyleRef], params: Any, seed: int) -> list[Image.Image]:
        """Make the images. `params` is an instance of `self.Params`, already validated."""

    def stylize(self, content: ContentRef, styles: list[StyleRef], params: Any = None, seed: int = 0,
                on_progress: ProgressCallback | None = None) -> StylizeResult:
        """Stylize `content` with the weighted `styles`; deterministic for a given seed on CPU.

        `on_progress(ProgressEvent)` gets each step a method reports while it runs (`_on_progress`, which
        `generation.method.Method.progress` feeds); a stylizer without steps of its own (one feed-forward
        pass) reports one step when it is done."""
        if params is None or isinstance(params, dict):
            params = params_from_dict(self.Params, params)
        if not isinstance(params, self.Params):
            raise StylizeError(f"{self.name} takes {self.Params.__name__}, got {type(params).__name__}")
        if content.image is None and not self.supports_prompt:
            raise StylizeError(f"{self.name} needs a content image; it cannot generate from a prompt alone")
        check_seed(seed)
        params = self.resolve_params(params, content)
        normalized_weights(styles)  # refuses an empty list or all-zero weights early
        events: list[ProgressEvent] = []

        def report(event: ProgressEvent) -> None:
            events.append(event)
            on_progress(event)

        self._on_progress = report if on_progress is not None else None
        start = time.monotonic()
        try:
            images = self._run(content, styles, params, int(seed))
        finally:
            self._on_progress = None
        if on_progress is not None and not events:
            on_progress(ProgressEvent(1, 1, time.monotonic() - start, 0.0))
        images = self._post_process(images, content, styles, params)
        return StylizeResult(self.name, images, dataclasses.asdict(params), int(seed), dict(self.model_ids))

    @staticmethod
    def _post_process(images: list[Image.Image], content: ContentRef, styles: list[StyleRef],
                      params: Any) -> list[Image.Image]:
        """Colour matching shared by every method (`params.colour_match`).

        `style` matches to the weight-blended colour statistics of the style images, so an interpolation
        strip moves smoothly between the styles' palettes and its endpoints equal the single-style runs.
        """
        mode = getattr(params, "colour_match", "none")
        if mode == "none":
            return images
        from .colour import ColourStats, blend_stats, match_colour

        if mode == "content":
            if content.image is None:
                raise StylizeError("colour_match='content' needs a content image")
            target = ColourStats.of(content.image)
        elif mode == "style":
            with_images = [s for s in styles if s.image is not None]
            if not with_images:
                raise StylizeError("colour_match='style' needs at least one style given as an image")
            weights = normalized_weights(with_images)
            target = blend_stats([ColourStats.of(s.image) for s in with_images], weights)
        else:
            raise StylizeError(f"colour_match must be none, style or content, got {mode!r}")
        return [match_colour(img, target) for img in images]
