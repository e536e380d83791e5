"""The tiny seeded SD1.5-layout model StyO's tests fine-tune (the one InstantStyle's and DiffStyle's tests use):
32 px images, 16x16 latents, CLIP's real 49,408-token vocabulary (so prompts tokenise exactly as with the
real SD1.5 tokenizer). Random weights: it proves the wiring and the algorithm's invariants, never quality."""
from __future__ import annotations

from typing import Any

from ..instantstyle.tiny import TINY_SIZE, components

__all__ = ["TINY_SIZE", "base_parts"]


def base_parts(seed: int = 0) -> dict[str, Any]:
    """unet, vae, text_encoder, tokenizer and scheduler of the tiny SD1.5-layout model."""
    parts = components("sd15", seed)
    return {k: parts[k] for k in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")}
