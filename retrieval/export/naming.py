"""Safe, deterministic output names: never derived unsafely from source file names."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

MAX_STEM = 64  # characters
MAX_STEM_BYTES = 96  # UTF-8 bytes, well under the usual 255-byte file-name limit
IMAGE_EXTS = {"jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"}
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tif"),
    (b"MM\x00*", "tif"),
)


def sanitise_stem(name: str, fallback: str = "image") -> str:
    """Reduce ``name`` to a short stem of unicode letters/digits, ``-`` and ``_``.

    Path separators (``/`` and ``\\``), dots (so ``..`` and leading dots vanish and
    WebDataset keys stay dot-free), control and other characters become ``_``; runs
    collapse, ``-``/``_`` are stripped at both ends, and the result is capped at
    MAX_STEM characters and MAX_STEM_BYTES UTF-8 bytes.
    """
    name = unicodedata.normalize("NFC", name)
    out = []
    for ch in name:
        cat = unicodedata.category(ch)
        out.append(ch if cat[0] in "LN" or ch in "-_" else "_")
    stem = re.sub(r"[_]{2,}", "_", "".join(out)).strip("-_")
    stem = stem[:MAX_STEM]
    while len(stem.encode("utf-8")) > MAX_STEM_BYTES:
        stem = stem[:-1]
    stem = stem.rstrip("-_")
    return stem or fallback


def _source_stem_and_suffix(path: str) -> tuple[str, str]:
    base = re.split(r"[/\\]", path)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem:
        return base, ""
    return stem, suffix.lower()


def image_ext(path: str, data: bytes) -> str:
    """File extension for an image: a known source suffix, else sniffed, else ``bin``."""
    _, suffix = _source_stem_and_suffix(path)
    if suffix in IMAGE_EXTS:
        return suffix
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "bin"


def export_stem(item_id: int, path: str) -> str:
    """``<id>-<sanitised stem>``: unique per id, deterministic, no dots, never starts with ``-``."""
    stem, _ = _source_stem_and_suffix(path)
    return f"{int(item_id)}-{sanitise_stem(stem)}"


def export_file_name(item_id: int, path: str, data: bytes) -> str:
    """``<id>-<sanitised stem>.<ext>`` for an item's image in OUT."""
    return f"{export_stem(item_id, path)}.{image_ext(path, data)}"


def collection_stem(collection: str) -> str:
    """A collection name made safe for shard / parquet file names."""
    return sanitise_stem(collection, fallback="collection")


def safe_join(root: Path, rel: str) -> Path:
    """``root / rel``, refusing anything that would resolve outside ``root``."""
    root_r = root.resolve()
    target = (root_r / rel).resolve()
    if target == root_r or root_r not in target.parents:
        raise ValueError(f"refusing to write outside the export folder: {rel!r}")
    return target
