"""Plain folder: OUT/<file> copies plus OUT/metadata.json (a list of records)."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .common import Context, LoadedItem, dumps, record, write_bytes

METADATA = "metadata.json"


def write(loaded: Iterable[LoadedItem], root: Path, ctx: Context) -> list[str]:
    """Copy images to the top of OUT and write ``metadata.json``."""
    files: list[str] = []
    records = []
    for li in loaded:
        files.append(write_bytes(root, li.file_name, li.data))
        records.append(record(li, ctx))
    doc = {"collection": ctx.collection, "items": records}
    files.append(write_bytes(root, METADATA, (dumps(doc, indent=2) + "\n").encode("utf-8")))
    return files
