"""The vector store: each space's vectors in immutable float32 `.npy` shards under `vectors/<space>/`.

The catalog keeps, per (image, space), only where the vector is (`Embedding.shard_id`, `.row`) and per shard
its file (`VectorShard`), so PostgreSQL stays small and "has a vector" queries, counts and joins work as
before. A shard is written atomically (temporary file, fsync, rename) BEFORE the transaction that adds its
row, so the catalog never names a half-written file; a file no row names (a rolled-back transaction, a killed
run, the old shards of a compaction) is an orphan that `remove_orphans` deletes under the index lock.

Why `.npy` rather than Parquet (FixedSizeList<float32>, uncompressed, row groups of 65,536 rows):
`scripts/bench_vector_format.py`, 1 M x 512 float32 (2.05 GB), this 2-core machine, warm page cache, both
files fsynced, same data:

    format       write    sequential read (chunks of 65,536)    gather of 1,000 random rows
    .npy         23.4 s   1.14 s                                4.8 ms
    Parquet      28.9 s   11.7 s  (10.3x)                       16.8 s  (3,500x: every row group decoded)

An `.npy` shard needs no decoding: a row is at a known offset, so a random gather reads only its rows and a
sequential read is one copy, and both engines, the index builders and the API read it without loading a shard.
(The store reads rows with pread, not through the memory map the format bench uses: see `read_rows`.) Parquet must decode (and copy out of Arrow) whole row groups for either; smaller row groups would
speed its gathers only by slowing its scans further.

Writes: `append` (one shard per committed batch and space). Reads: `read_vectors` (given ids), `iter_vectors`
(every live vector of a space, in bounded chunks, shard by shard), `count_vectors`. Upkeep (both under the
index lock): `compact` (`indexer.vectors.compaction`) and `remove_orphans`.
"""
from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from ..atomic import atomic_file
from ..catalog.schema import Embedding, Space, VectorShard

if TYPE_CHECKING:
    from ..layout import WorkspaceLayout
    from ..spaces import SpaceInfo
    from ..workspace import Workspace

SHARD_GLOB = "shard-*.npy"
TEMP_GLOB = ".shard-*.tmp"  # atomic_file's temporaries of a shard being written
CHUNK_ROWS = 65_536
_IN_CHUNK = 900  # ids per IN (...) list: below SQLite's old 999-parameter limit
_OPEN_LIMIT = 256  # open memory maps kept per process


class VectorStoreError(RuntimeError):
    """Vectors that cannot be stored (wrong shape, unknown space) or a shard that is not what the catalog says."""


def shard_path(layout: WorkspaceLayout, file: str) -> Path:
    """The absolute path of a shard named (as the catalog stores it) relative to the vectors folder."""
    return layout.vectors_dir / file


def write_shard(path: Path, chunks: Iterable[np.ndarray], rows: int, dim: int) -> int:
    """Write an immutable (rows, dim) float32 `.npy` file atomically from `chunks` (bounded memory: each
    chunk goes straight to the file); returns its size in bytes. Raises when the chunks do not add up."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with atomic_file(path) as f:
        np.lib.format.write_array_header_1_0(f, {"descr": np.dtype("<f4").str, "fortran_order": False,
                                                 "shape": (int(rows), int(dim))})
        for chunk in chunks:
            chunk = np.ascontiguousarray(chunk, dtype="<f4")
            if chunk.ndim != 2 or chunk.shape[1] != dim:
                raise VectorStoreError(f"a chunk of shape {chunk.shape} does not fit a shard of dimension {dim}")
            f.write(chunk.data)
            written += len(chunk)
        if written != rows:
            raise VectorStoreError(f"{written} rows written to a shard of {rows}")
    return path.stat().st_size


def new_shard_file(space_name: str, first_id: int) -> str:
    """A fresh shard name relative to the vectors folder: `<space>/shard-<first image id>-<random>.npy`."""
    return f"{space_name}/shard-{int(first_id)}-{uuid.uuid4().hex[:8]}.npy"


def append(s: Session, layout: WorkspaceLayout, space_id: int, ids: np.ndarray | list[int],
           vectors: np.ndarray) -> VectorShard | None:
    """Store `vectors[i]` as the vector of image `ids[i]` in the space: one new shard file, written before its
    `VectorShard` row and the `Embedding` rows are added in `s` (the caller's transaction). None when empty.
    An image must not have a vector in the space already (release it first)."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    space = s.get(Space, space_id)
    if space is None:
        raise VectorStoreError(f"no space with id {space_id}")
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape != (len(ids), space.dim):
        raise VectorStoreError(f"space {space.name} takes ({len(ids)}, {space.dim}) vectors for {len(ids)} ids, "
                               f"got shape {vectors.shape}")
    if not len(ids):
        return None
    file = new_shard_file(space.name, int(ids.min()))
    layout.space_vectors_dir(space.name)  # checks the name is a plain folder name
    nbytes = write_shard(shard_path(layout, file), [vectors], len(ids), space.dim)
    shard = VectorShard(space_id=space_id, file=file, rows=len(ids), dim=space.dim, bytes=nbytes)
    s.add(shard)
    s.flush()
    s.execute(insert(Embedding), [{"image_id": i, "space_id": space_id, "shard_id": shard.id, "row": r}
                                  for r, i in enumerate(ids.tolist())])
    return shard


def session_workspace(s: Session) -> Workspace:
    """The workspace a catalog session belongs to (`Workspace.session` records itself in `s.info`), so code
    that is handed only a session can still find the shard files."""
    ws = s.info.get("workspace")
    if ws is None:
        raise RuntimeError("this session is not a workspace's (Workspace.session): pass the workspace")
    return ws


def mark_dead(s: Session, shard_ids: Iterable[int]) -> None:
    """Count rows released from their shards (one entry per row), so `compact` finds mostly-dead shards from
    `vector_shards` alone instead of counting every embedding at each checkpoint."""
    counts: dict[int, int] = {}
    for shard_id in shard_ids:
        counts[shard_id] = counts.get(shard_id, 0) + 1
    for shard_id, n in sorted(counts.items()):
        s.execute(update(VectorShard).where(VectorShard.id == shard_id).values(dead=VectorShard.dead + n))


def count_vectors(s: Session, space: SpaceInfo) -> int:
    """How many images have a vector in the space."""
    return int(s.scalar(select(func.count()).select_from(Embedding).where(Embedding.space_id == space.id)) or 0)


def read_vectors(ws: Workspace, s: Session, space: SpaceInfo, image_ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """(ids ascending, float32 (n, dim)) of those `image_ids` that have a vector in the space.

    A shard deleted by a compaction in another process after `s` read its location is retried once with the
    locations a fresh transaction sees (the compaction moved the rows before deleting the file)."""
    wanted = sorted({int(i) for i in image_ids})
    try:
        return _gather(ws, _locations(s, space, wanted), space.dim)
    except FileNotFoundError:
        with ws.session() as fresh:
            locations = _locations(fresh, space, wanted)
        try:
            return _gather(ws, locations, space.dim)
        except FileNotFoundError as exc:
            raise VectorStoreError(f"a {space.name} vector shard the catalog names is missing ({exc.filename}); the "
                                   "workspace's vectors/ folder is incomplete") from None


def iter_vectors(ws: Workspace, space: SpaceInfo, chunk_rows: int = CHUNK_ROWS,
                 session: Session | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every live vector of the space as (int64 ids, float32 (m, dim)) chunks of at most `chunk_rows` rows,
    shard by shard in row order (sequential reads; ids ascend within a shard, not across shards).

    `session`: read the locations in that transaction (e.g. the one that read the index log); default a new
    one. Call it under the index lock, or expect FileNotFoundError when a compaction runs meanwhile."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    if session is None:
        with ws.session() as s:
            yield from iter_vectors(ws, space, chunk_rows, s)
        return
    shards = session.execute(select(VectorShard.id, VectorShard.file).where(VectorShard.space_id == space.id)
                             .order_by(VectorShard.id)).all()
    for shard_id, file in shards:
        result = session.execute(select(Embedding.image_id, Embedding.row).where(Embedding.shard_id == shard_id)
                                 .order_by(Embedding.row).execution_options(yield_per=chunk_rows))
        for part in result.partitions(chunk_rows):
            pairs = np.fromiter((v for r in part for v in r), dtype=np.int64, count=2 * len(part)).reshape(-1, 2)
            yield pairs[:, 0].copy(), read_rows(ws, file, space.dim, pairs[:, 1])


def open_shard(layout: WorkspaceLayout, file: str, dim: int | None = None) -> np.ndarray:
    """The shard's (rows, dim) float32 memory map, cached per process (files never change once written)."""
    path = str(shard_path(layout, file))
    with _OPEN_LOCK:
        matrix = _OPEN.get(path)
        if matrix is not None:
            _OPEN.move_to_end(path)
            return matrix
    matrix = np.load(path, mmap_mode="r")
    if matrix.dtype != np.float32 or matrix.ndim != 2 or (dim is not None and matrix.shape[1] != dim):
        raise VectorStoreError(f"vector shard {file} holds {matrix.dtype} {matrix.shape}, not float32 rows of {dim}")
    with _OPEN_LOCK:
        _OPEN[path] = matrix
        while len(_OPEN) > _OPEN_LIMIT:
            _OPEN.popitem(last=False)
    return matrix


def forget_shard(layout: WorkspaceLayout, file: str) -> None:
    """Drop this process's memory map of a shard (before its file is deleted, so its disk space is freed)."""
    with _OPEN_LOCK:
        _OPEN.pop(str(shard_path(layout, file)), None)


def take_rows(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """matrix[rows] as a new in-memory array; one slice when the rows are consecutive."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows) and (len(rows) < 2 or bool(np.all(np.diff(rows) == 1))):
        return np.array(matrix[int(rows[0]):int(rows[-1]) + 1], dtype=np.float32)
    return np.asarray(matrix[rows], dtype=np.float32)


def read_rows(layout: WorkspaceLayout, file: str, dim: int, rows: np.ndarray) -> np.ndarray:
    """Rows (ascending) of a shard as a new array, read with pread rather than through the memory map: the
    kernel maps whole page-cache folios into a process that touches a mapped row, so a gather of 1,000 random
    1,280-d rows through the map left ~1.6 GB of shards resident (counted as this process's memory), this
    way only the rows. Rows spread over at most 4x their number are read as one block."""
    matrix = open_shard(layout, file, dim)  # the header, checked and cached; no data page is touched
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), dim), np.float32)
    if not len(rows):
        return out
    offset = int(getattr(matrix, "offset", 0))
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    if rows[0] < 0 or hi > len(matrix):
        raise VectorStoreError(f"vector shard {file} has {len(matrix)} rows, row {hi - 1 if hi > len(matrix) else lo} "
                               "was asked for")
    row_bytes = dim * 4
    with open(shard_path(layout, file), "rb") as f:
        if hi - lo <= 4 * len(rows):
            block = np.fromfile(f, dtype="<f4", count=(hi - lo) * dim, offset=offset + lo * row_bytes)
            block = block.reshape(hi - lo, dim)
            return block if hi - lo == len(rows) else block[rows - lo]
        fd = f.fileno()
        for n, row in enumerate(rows.tolist()):
            if os.preadv(fd, [memoryview(out[n]).cast("B")], offset + row * row_bytes) != row_bytes:
                raise VectorStoreError(f"vector shard {file} is shorter than its row {row}")
    return out


def remove_orphans(ws: Workspace, space: SpaceInfo) -> list[str]:
    """Delete the space's shard files no `VectorShard` row names and the temporaries of shards a killed run was
    writing. Only under the workspace's index lock (every shard is written under it). Returns the names."""
    folder = ws.space_vectors_dir(space.name)
    if not folder.is_dir():
        return []
    with ws.session() as s:
        keep = set(s.scalars(select(VectorShard.file).where(VectorShard.space_id == space.id)))
    removed = []
    for path in [*folder.glob(SHARD_GLOB), *folder.glob(TEMP_GLOB)]:
        file = f"{space.name}/{path.name}"
        if file not in keep and path.is_file() and not path.is_symlink():
            forget_shard(ws, file)
            path.unlink(missing_ok=True)
            removed.append(file)
    return sorted(removed)


def _locations(s: Session, space: SpaceInfo, ids: list[int]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(image ids ascending, their shard files, their rows) for those of `ids` (ascending) with a vector."""
    found: list[tuple[int, str, int]] = []
    for start in range(0, len(ids), _IN_CHUNK):
        found.extend(s.execute(
            select(Embedding.image_id, VectorShard.file, Embedding.row)
            .join(VectorShard, VectorShard.id == Embedding.shard_id)
            .where(Embedding.space_id == space.id, Embedding.image_id.in_(ids[start:start + _IN_CHUNK]))
        ))
    found.sort()
    return (np.fromiter((f[0] for f in found), np.int64, len(found)), [f[1] for f in found],
            np.fromiter((f[2] for f in found), np.int64, len(found)))


def _gather(layout: WorkspaceLayout, locations: tuple[np.ndarray, list[str], np.ndarray],
            dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Read the vectors at `locations` shard by shard, each shard's rows in file order."""
    ids, files, rows = locations
    out = np.empty((len(ids), dim), np.float32)
    by_file: dict[str, list[int]] = {}
    for n, file in enumerate(files):
        by_file.setdefault(file, []).append(n)
    for file, positions in by_file.items():
        pos = np.asarray(positions, dtype=np.int64)
        pos = pos[np.argsort(rows[pos], kind="stable")]
        out[pos] = read_rows(layout, file, dim, rows[pos])
    return ids, out


_OPEN: OrderedDict[str, np.ndarray] = OrderedDict()
_OPEN_LOCK = threading.Lock()
