"""Helpers shared by the format writers: loading sources, metadata records, stable output."""
from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .items import ExportError, ExportItem, SkippedItem
from .naming import export_file_name, safe_join

#: Fixed timestamp (1980-01-01 UTC, the zip epoch) for tar members and written files.
FIXED_MTIME = 315532800
MAX_SOURCE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class LoadedItem:
    """An item whose source bytes were read and verified."""

    item: ExportItem
    file_name: str
    data: bytes


@dataclass
class Context:
    """Per-export settings the writers need."""

    collection: str
    include_vectors: bool
    spaces: tuple[str, ...]
    shard_size: int


def vector_spaces(items: Sequence[ExportItem]) -> tuple[str, ...]:
    """Sorted union of the vector space names over all items."""
    return tuple(sorted({s for it in items for s in (it.vectors or {})}))


def vector_key(space: str) -> str:
    """Metadata key / column name for a space's vector."""
    return f"vector_{space}"


def as_float32_list(vec: Sequence[float] | None) -> list[float] | None:
    """Round a vector to float32 (what parquet stores) so every format agrees."""
    if vec is None:
        return None
    return [float(x) for x in np.asarray(vec, dtype=np.float32).ravel()]


def record(loaded: LoadedItem, ctx: Context) -> dict[str, Any]:
    """The metadata record of one exported item (same fields in every format)."""
    it = loaded.item
    rec: dict[str, Any] = {
        "id": int(it.id),
        "file_name": loaded.file_name,
        "sha256": it.sha256,
        "corpus": it.corpus,
        "source_path": it.path,
        "tags": [str(t) for t in it.tags],
        "note": it.note,
        "added_by": it.added_by,
        "added_at": it.added_at,
        "collection": ctx.collection,
    }
    if ctx.include_vectors:
        for space in ctx.spaces:
            rec[vector_key(space)] = as_float32_list((it.vectors or {}).get(space))
    return rec


def dumps(obj: Any, indent: int | None = None) -> str:
    """Deterministic JSON: sorted keys, UTF-8 text, fixed separators."""
    seps = (",", ": ") if indent else (",", ":")
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=indent, separators=seps)


def write_bytes(root: Path, rel: str, data: bytes) -> str:
    """Write ``data`` to ``root/rel`` (checked to stay inside root) with a fixed mtime."""
    target = safe_join(root, rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as f:
        f.write(data)
    os.utime(target, (FIXED_MTIME, FIXED_MTIME))
    return rel


def _read_source(item: ExportItem) -> bytes:
    """Read a source file, refusing non-regular files and oversize ones."""
    st = os.stat(item.path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError("not a regular file")
    if st.st_size > MAX_SOURCE_BYTES:
        raise OSError(f"file too large ({st.st_size} bytes)")
    with open(item.path, "rb") as f:
        return f.read()


def iter_loaded(
    items: Sequence[ExportItem], skipped: list[SkippedItem], strict: bool
) -> Iterator[LoadedItem]:
    """Yield items sorted by id with their verified bytes; record the ones that fail.

    Reads one file at a time, so writers can stream. Missing, unreadable, changed
    (sha256 mismatch), duplicate-id and invalid-id items are appended to ``skipped``,
    or raise ExportError when ``strict``.
    """
    seen: set[int] = set()
    for it in sorted(items, key=lambda i: (int(i.id), i.path)):
        reason = None
        data = b""
        if int(it.id) < 0:
            reason = "invalid id (negative)"
        elif int(it.id) in seen:
            reason = "duplicate id"
        else:
            try:
                data = _read_source(it)
            except OSError as e:
                reason = f"unreadable source: {e.strerror or e}"
            else:
                if hashlib.sha256(data).hexdigest() != it.sha256.lower():
                    reason = "sha256 mismatch (source changed since indexing)"
        if reason is not None:
            if strict:
                raise ExportError(f"item {it.id} ({it.path!r}): {reason}")
            skipped.append(SkippedItem(int(it.id), it.path, reason))
            continue
        seen.add(int(it.id))
        yield LoadedItem(it, export_file_name(int(it.id), it.path, data), data)
