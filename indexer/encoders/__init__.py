"""Image and text encoders that map into StyleLens' embedding spaces, and their registry.

Importing this package is cheap; models and their heavy libraries load in `create_encoder` (the starter
encoders defer even that to their first image or text).
"""
from .base import Encoder, EncoderError, TextNotSupported, l2_normalize
from .preprocess import Preprocess
from .registry import (
    PROFILES,
    ModelInfo,
    build_encoder,
    clear_cache,
    create_encoder,
    known_ids,
    list_models,
    model_info,
    profile_spaces,
)


def full_profile_available(encoder_id: str = PROFILES["full"]["content"]) -> tuple[bool, str]:
    """Whether the full profile's open_clip weights are local or fetchable now, with a reason."""
    from .content_open_clip import full_profile_available as _check

    return _check(encoder_id)


__all__ = [
    "PROFILES", "Encoder", "EncoderError", "ModelInfo", "Preprocess", "TextNotSupported", "build_encoder",
    "clear_cache", "create_encoder", "full_profile_available", "known_ids", "l2_normalize", "list_models",
    "model_info", "profile_spaces",
]
