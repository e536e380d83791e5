"""Compaction of a space's vector shards: indexing writes one small shard per batch, and re-indexed or deleted
images leave dead rows behind; `compact` folds the small and the mostly-dead shards into new ones of live rows.

Which shards: `VectorShard.dead` (rows released, counted by the writer) points at the suspects with one
small query per checkpoint; their live rows are then counted exactly from the embeddings.

Crash safety: the new shard files are written (atomically) first, then one transaction adds their rows, moves
every `Embedding` location (executemany, a chunk at a time) and deletes the old shard rows; the old files are
deleted only after it commits. A kill before the commit leaves new orphan files, after it old ones; either way
`remove_orphans` clears them and no row ever names a missing file. A reader in another process that read an
old location just before the commit finds the file gone and re-reads the locations (`store.read_vectors`).
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..catalog.schema import Embedding, VectorShard
from .store import CHUNK_ROWS, forget_shard, new_shard_file, read_rows, shard_path, write_shard

if TYPE_CHECKING:
    from ..spaces import SpaceInfo
    from ..workspace import Workspace

MAX_SHARDS = 64  # more live shards than this in a space: merge the small ones
MIN_LIVE = 0.5  # a shard whose live fraction falls under this is rewritten
SHARD_ROWS = 1 << 20  # rows per shard a compaction writes (1,280-d: 5 GiB); larger shards are left as they are


@dataclass
class CompactionResult:
    space: str
    merged: list[str] = field(default_factory=list)  # old shard files folded into new ones (or dropped: no live row)
    written: list[str] = field(default_factory=list)  # new shard files
    rows: int = 0  # live rows copied


@dataclass(frozen=True)
class _ShardStat:
    id: int
    file: str
    rows: int
    live: int  # embeddings pointing into it
    live_rows: int  # distinct rows they point at (an inheriting duplicate shares its original's)


def compact(ws: Workspace, space: SpaceInfo, *, max_shards: int = MAX_SHARDS, min_live: float = MIN_LIVE,
            shard_rows: int = SHARD_ROWS, chunk_rows: int = CHUNK_ROWS) -> CompactionResult:
    """Merge the space's small shards (when it has more than `max_shards`) and those under `min_live` live,
    into new shards of at most `shard_rows` live rows in image-id order; drop shards with no live row.
    Call it under the workspace's index lock. Memory: one chunk of `chunk_rows` vectors at a time."""
    result = CompactionResult(space.name)
    with ws.session() as s:
        shards = s.execute(select(VectorShard.id, VectorShard.rows, VectorShard.dead)
                           .where(VectorShard.space_id == space.id)).all()
        too_many = len(shards) > max_shards
        suspects = [i for i, rows, dead in shards if rows - dead < min_live * rows or (too_many and rows < shard_rows)]
        if not suspects:  # the usual checkpoint: one small query, whatever the corpus size
            return result
        victims = _choose(_shard_stats(s, space, suspects), len(shards), max_shards, min_live, shard_rows)
        if not victims:
            return result
        live = [st for st in victims if st.live]
        result.rows = sum(st.live for st in live)
        if result.rows:
            result.written = _rewrite(ws, s, space, [st.id for st in live], result.rows, shard_rows, chunk_rows)
        s.execute(delete(VectorShard).where(VectorShard.id.in_([st.id for st in victims])))
    result.merged = [st.file for st in victims]
    for file in result.merged:  # committed: nothing names them any more
        forget_shard(ws, file)
        shard_path(ws, file).unlink(missing_ok=True)
    return result


def _shard_stats(s: Session, space: SpaceInfo, shard_ids: list[int]) -> list[_ShardStat]:
    """The live counts of these shards (exact: counted from the embeddings, not from `VectorShard.dead`)."""
    rows = s.execute(
        select(VectorShard.id, VectorShard.file, VectorShard.rows, func.count(Embedding.image_id),
               func.count(func.distinct(Embedding.row)))
        .outerjoin(Embedding, Embedding.shard_id == VectorShard.id)
        .where(VectorShard.space_id == space.id, VectorShard.id.in_(shard_ids))
        .group_by(VectorShard.id, VectorShard.file, VectorShard.rows).order_by(VectorShard.id)
    )
    return [_ShardStat(*row) for row in rows]


def _choose(stats: list[_ShardStat], n_shards: int, max_shards: int, min_live: float,
            shard_rows: int) -> list[_ShardStat]:
    """Of the suspected shards, those to fold: empty ones, sparse ones, and - when the space has more than
    `max_shards` - every one smaller than a full compacted shard. A lone small, dense shard is left alone
    (rewriting it would change nothing)."""
    empty = [st for st in stats if st.live == 0]
    sparse = [st for st in stats if st.live and st.live_rows < min_live * st.rows]
    chosen = {st.id for st in empty + sparse}
    if n_shards - len(empty) > max_shards:
        chosen |= {st.id for st in stats if st.live and st.rows < shard_rows}
    picked = [st for st in stats if st.id in chosen]
    if not sparse and len([st for st in picked if st.live]) == 1:
        picked = empty
    return picked


def _rewrite(ws: Workspace, s: Session, space: SpaceInfo, old_ids: list[int], total: int, shard_rows: int,
             chunk_rows: int) -> list[str]:
    """Copy the live rows of shards `old_ids` into new shards (image-id order) and point the embeddings at
    them, in `s`. Two passes over the same ordered rows: one writes the files, one moves the locations."""
    files_by_id = dict(s.execute(select(VectorShard.id, VectorShard.file).where(VectorShard.id.in_(old_ids))).all())
    written, new_shards, after = [], [], -1
    for start in range(0, total, shard_rows):
        size = min(shard_rows, total - start)
        pages = _live_chunks(s, space, old_ids, min(chunk_rows, size), after=after, limit=size)
        first = next(pages)
        file = new_shard_file(space.name, int(first[0][0]))
        seen: list[int] = []

        def vectors(first=first, pages=pages, seen=seen):  # noqa: ANN001, ANN202 - bound per shard
            for ids, shards, rows in itertools.chain([first], pages):
                seen.append(int(ids[-1]))
                yield _read(ws, space, files_by_id, shards, rows)

        nbytes = write_shard(shard_path(ws, file), vectors(), size, space.dim)
        after = seen[-1]
        new_shards.append(VectorShard(space_id=space.id, file=file, rows=size, dim=space.dim, bytes=nbytes))
        written.append(file)
    s.add_all(new_shards)
    s.flush()
    position = 0
    for ids, _shards, _rows in _live_chunks(s, space, old_ids, chunk_rows):
        s.execute(update(Embedding), [
            {"image_id": i, "space_id": space.id, "shard_id": new_shards[p // shard_rows].id, "row": p % shard_rows}
            for p, i in enumerate(ids.tolist(), start=position)])
        position += len(ids)
    if position != total:
        raise RuntimeError(f"compaction of {space.name} moved {position} of {total} rows; nothing was changed")
    return written


def _live_chunks(s: Session, space: SpaceInfo, old_ids: list[int], chunk_rows: int, after: int = -1,
                 limit: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image ids, shard ids, rows) of the embeddings in shards `old_ids` with image id > `after`, by image id,
    `chunk_rows` at a time and `limit` in all (keyset pages: the embeddings can be updated between pages)."""
    left = limit
    while left is None or left > 0:
        n = chunk_rows if left is None else min(chunk_rows, left)
        page = s.execute(
            select(Embedding.image_id, Embedding.shard_id, Embedding.row)
            .where(Embedding.space_id == space.id, Embedding.shard_id.in_(old_ids), Embedding.image_id > after)
            .order_by(Embedding.image_id).limit(n)
        ).all()
        if not page:
            return
        arr = np.array(page, dtype=np.int64).reshape(-1, 3)
        after = int(arr[-1, 0])
        if left is not None:
            left -= len(arr)
        yield arr[:, 0], arr[:, 1], arr[:, 2]


def _read(ws: Workspace, space: SpaceInfo, files_by_id: dict[int, str], shards: np.ndarray,
          rows: np.ndarray) -> np.ndarray:
    out = np.empty((len(rows), space.dim), np.float32)
    for shard_id in np.unique(shards):
        pos = np.flatnonzero(shards == shard_id)
        pos = pos[np.argsort(rows[pos], kind="stable")]
        out[pos] = read_rows(ws, files_by_id[int(shard_id)], space.dim, rows[pos])
    return out
