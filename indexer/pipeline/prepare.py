"""The work done per file in a decoding worker: read, hash, decode, and preprocess for every space.

This module is imported by spawned worker processes, so it stays light: no torch, no model code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ..encoders.preprocess import Preprocess
from ..imaging.decode import ImageRejected, decode_file


@dataclass(frozen=True)
class PrepareTask:
    path: str
    preprocess: tuple[tuple[str, Preprocess], ...]  # (space name, recipe)
    max_side: int | None = 1024


@dataclass
class Prepared:
    """A decoded file ready for the encoders, or the reason it was rejected."""

    path: str
    error: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    taken_at: datetime | None = None  # EXIF date; the writer falls back to the file's mtime
    pixels: dict[str, np.ndarray] = field(default_factory=dict)  # space -> uint8 crop (Preprocess.pixels)

    @property
    def ok(self) -> bool:
        return self.error is None


def decode_short_side(recipes: tuple[tuple[str, Preprocess], ...]) -> int | None:
    """The shorter side to decode at: just large enough for the largest input any space needs."""
    return max((recipe.resize_to or recipe.size) for _name, recipe in recipes) if recipes else None


def prepare(task: PrepareTask) -> Prepared:
    """Decode one file and build each space's model input; bad input becomes `Prepared.error`.

    Query images go through this same function, so a file searched for gets the very vectors it was
    indexed with."""
    short = decode_short_side(task.preprocess)
    try:
        decoded = decode_file(task.path, max_side=task.max_side, short_side=short)
    except ImageRejected as exc:
        return Prepared(task.path, error=exc.reason)
    try:
        pixels = {name: recipe.pixels(decoded.image) for name, recipe in task.preprocess}
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop a whole indexing run
        return Prepared(task.path, error=f"cannot prepare model input: {type(exc).__name__}: {exc}")
    return Prepared(task.path, sha256=decoded.sha256, width=decoded.width, height=decoded.height,
                    format=decoded.format, taken_at=decoded.taken_at,
                    pixels=pixels)


def embed_pixels(encoder, pixels: np.ndarray) -> np.ndarray:  # noqa: ANN001 - an Encoder (kept out: no torch here)
    """One space's vectors for a batch of uint8 crops (N, size, size, 3): finished and run as one batch."""
    return encoder.embed_images(encoder.preprocess.finish(pixels))
