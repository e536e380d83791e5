"""Hugging Face ``imagefolder`` layout: OUT/train/<file> + OUT/train/metadata.jsonl."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .common import Context, LoadedItem, dumps, record, write_bytes

SPLIT = "train"


def write(loaded: Iterable[LoadedItem], root: Path, ctx: Context) -> list[str]:
    """Copy images into ``train/`` and write one JSON line per image.

    ``file_name`` is relative to the metadata file's folder, as the HF loader expects.
    """
    files: list[str] = []
    lines: list[str] = []
    for li in loaded:
        files.append(write_bytes(root, f"{SPLIT}/{li.file_name}", li.data))
        lines.append(dumps(record(li, ctx)) + "\n")
    files.append(write_bytes(root, f"{SPLIT}/metadata.jsonl", "".join(lines).encode("utf-8")))
    return files
