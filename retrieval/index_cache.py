"""Process-wide cache of loaded indexes, refreshed whenever the catalog says they changed.

A refresh after an indexing run that only appended to the log keeps the base this process holds and rebuilds
the delta (cost proportional to the changes since the snapshot, `index_sync.load_index(previous=...)`); the
base file is read again only when a checkpoint made a new snapshot current."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from indexer.catalog.schema import IndexLogEntry, IndexSnapshot
from indexer.index_sync import load_index
from indexer.spaces import SpaceInfo
from indexer.vectors.layered import LayeredIndex
from indexer.vectors.storage import IndexFileError
from indexer.workspace import Workspace

_CACHE: dict[tuple[str, int], tuple[tuple, LayeredIndex]] = {}
_LOCK = threading.Lock()
_LOADING = threading.Lock()  # one load at a time (see get_index)
_LOAD_TRIES = 3


def get_index(ws: Workspace, space: SpaceInfo) -> LayeredIndex:
    """The space's up-to-date index, loaded once per change of the catalog. A caller that finds another
    thread loading a newer version searches the previous one meanwhile (never blocks, never fails)."""
    with ws.session() as s:
        version = (
            s.scalar(select(IndexSnapshot.file).where(IndexSnapshot.space_id == space.id,
                                                      IndexSnapshot.is_current.is_(True))),
            s.scalar(select(func.max(IndexLogEntry.seq)).where(IndexLogEntry.space_id == space.id)),
            s.scalar(select(func.count()).select_from(IndexLogEntry).where(IndexLogEntry.space_id == space.id)),
        )
    key = (str(ws.home), space.id)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    # One load at a time. While it runs, other threads keep the index they had: a server under an indexing
    # run (a new log entry every batch) would otherwise queue every request behind each reload.
    if not _LOADING.acquire(blocking=hit is None):
        return hit[1]
    try:
        with _LOCK:
            hit = _CACHE.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        index = _load(ws, space, hit[1] if hit is not None else None)
        with _LOCK:
            _CACHE[key] = (version, index)
        return index
    finally:
        _LOADING.release()


def _load(ws: Workspace, space: SpaceInfo, previous: LayeredIndex | None) -> LayeredIndex:
    """`load_index` (keeping `previous`'s base while its snapshot is current), again when a checkpoint replaced
    the snapshot between reading its row and opening its file (the old file is deleted once the new one is
    current): searches in flight never see that race."""
    for _attempt in range(_LOAD_TRIES - 1):
        try:
            return load_index(ws, space, previous=previous)
        except IndexFileError:
            continue
    return load_index(ws, space, previous=previous)
