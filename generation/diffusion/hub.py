"""Where a diffusion model's files are: the local Hugging Face cache or a local folder. Never the network.

Shared by the diffusers-based stylizers; their "weights missing" error (`generation.weights`) names every
missing file by repo/folder, and the `hf download` line that fetches it on a machine with hub access.
"""
from __future__ import annotations

from pathlib import Path


def is_local(source: str) -> bool:
    """Whether `source` is a folder path rather than a hub repo id."""
    return source.startswith(("/", ".", "~")) or Path(source).expanduser().exists()


def file_present(source: str, filename: str) -> bool:
    """Whether `filename` of a hub repo is in the local HF cache, or exists in a local folder; no network."""
    if is_local(source):
        return (Path(source).expanduser() / filename).is_file()
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(source, filename), str)

