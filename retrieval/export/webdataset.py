"""WebDataset tar shards: OUT/<collection>-000000.tar, members ``<key>.<ext>`` + ``<key>.json``."""
from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from .common import FIXED_MTIME, Context, LoadedItem, dumps, record
from .naming import collection_stem, safe_join


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    """A member header with fixed metadata, so shards are byte-identical across runs."""
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mtime = FIXED_MTIME
    ti.mode = 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.type = tarfile.REGTYPE
    return ti


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))


def write(loaded: Iterable[LoadedItem], root: Path, ctx: Context) -> list[str]:
    """Write items in id order, ``shard_size`` samples per shard (no shard when empty).

    The key is the file name without its extension (``<id>-<stem>``, no dots), so the
    image and its JSON share a key (WebDataset splits keys at the first dot).
    """
    prefix = collection_stem(ctx.collection)
    files: list[str] = []
    it = iter(loaded)
    while chunk := list(islice(it, ctx.shard_size)):
        rel = f"{prefix}-{len(files):06d}.tar"
        path = safe_join(root, rel)
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            for li in chunk:
                key, _, ext = li.file_name.rpartition(".")
                assert key and "." not in key, li.file_name
                _add(tar, f"{key}.{ext}", li.data)
                _add(tar, f"{key}.json", dumps(record(li, ctx)).encode("utf-8"))
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
        files.append(rel)
    return files
