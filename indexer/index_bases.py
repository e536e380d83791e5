"""The base of a space's index, whatever its kind: one checksummed in-memory file, or an on-disk IVF folder.

Small spaces keep the base `VectorIndex` (flat, HNSW; one file, loaded whole). Spaces past
`selection.HNSW_MAX_VECTORS`, or whose raw vectors would not fit the memory budget, get an on-disk IVF /
IVF-PQ base (`indexer.vectors.ondisk`): built from the vector store by `sharded_build.build_ondisk` (trained
once on a bounded sample, shards added, lists merged with `merge_ondisk`) and opened memory-mapped, with exact
re-ranking of PQ candidates from the store. A base is never edited in place: `index_sync` layers the changes
since it on top (`indexer.vectors.layered`) and, when they pass the fold threshold, writes a new base: an
on-disk one by `ondisk_extend.extend_ondisk` (old lists + delta, same trained quantizer) until the corpus
has outgrown its training sample, then by a fresh build.

Snapshot names tell the kinds apart: `<space>-<seq>-<rand>.faiss` (a file) and `<space>-<seq>-<rand>.ondisk`
(a folder). This module is the one place that opens, checks, builds and deletes them.
"""
from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from .catalog.schema import Embedding
from .spaces import SpaceInfo
from .vectors import store
from .vectors.faiss_index import VectorIndex
from .vectors.ondisk import OnDiskIndex
from .vectors.ondisk_extend import extend_ondisk
from .vectors.index_facts import sorted_member
from .vectors.ondisk_files import IDS_FILE, check_files, folder_bytes, read_manifest
from .vectors.selection import DEFAULT_MEMORY_BUDGET, IndexChoice, choose_index, choose_ondisk_index, ivf_nlist
from .vectors.sharded_build import build_ondisk
from .vectors.storage import IndexFileError, verify_file
from .vectors.vector_source import VectorSource, sample_positions
from .workspace import Workspace

Base = Union[VectorIndex, OnDiskIndex]
ONDISK_SUFFIX = ".ondisk"
BUILD_CHUNK_ROWS = 65536  # rows per build shard: ~335 MB at 1,280-d, so the build's peak stays bounded


def choose_base(n_vectors: int, dim: int, metric: str, memory_budget: int | None) -> IndexChoice:
    """The index a space of this size should have when the user forced none: `choose_index`'s in-memory
    flat / HNSW while it picks those, else an on-disk IVF (`choose_ondisk_index`): its lists live on disk, so
    only the quantizer and the ids sidecar count against the memory budget."""
    budget = memory_budget or DEFAULT_MEMORY_BUDGET
    try:
        choice = choose_index(n_vectors, dim, memory_budget_bytes=budget, metric=metric)
        if choice.kind in ("flat", "hnsw"):
            return choice
    except ValueError as exc:  # nothing fits in RAM: on disk it may
        if ivf_nlist(n_vectors) is None:  # too few vectors for IVF: the in-memory advice stands
            raise exc
    return choose_ondisk_index(n_vectors, dim, metric, memory_budget_bytes=budget)


def is_ondisk(choice: IndexChoice) -> bool:
    return bool(choice.extra.get("ondisk"))


def new_name(space: SpaceInfo, seq: int, choice: IndexChoice) -> str:
    """A snapshot name no earlier one had: `<space>-<seq>-<random token>` and the kind's suffix."""
    return f"{space.name}-{seq}-{uuid.uuid4().hex[:8]}" + (ONDISK_SUFFIX if is_ondisk(choice) else ".faiss")


def open_base(ws: Workspace, space: SpaceInfo, file: str, *, verify: str, expected_bytes: int | None) -> Base:
    """Open a snapshot base; IndexFileError / FileNotFoundError when it is missing or damaged.

    verify "full" hashes every byte (a fold, `check_consistency`); otherwise the in-memory kind checks its
    framing, size and header (payload too while small) and the on-disk kind its sizes and small files."""
    path = ws.index_dir / file
    if not file.endswith(ONDISK_SUFFIX):
        return VectorIndex.load(path, verify=verify, expected_bytes=expected_bytes)
    if not path.is_dir():
        raise FileNotFoundError(f"on-disk index {path} is missing")
    index = OnDiskIndex.open(path, lookup=store_lookup(ws, space))
    if verify == "full":
        index.verify()
    return index


def ondisk_members(ws: Workspace, file: str, ids: np.ndarray) -> np.ndarray:
    """Which of `ids` the on-disk base `file` holds: a binary search in its mapped ids sidecar, without opening
    the index (OSError / ValueError when the sidecar is missing or unreadable)."""
    sidecar = np.load(ws.index_dir / file / IDS_FILE, mmap_mode="r")
    if sidecar.ndim != 1 or sidecar.dtype != np.int64:
        raise ValueError(f"{file}/{IDS_FILE} holds {sidecar.dtype} {sidecar.shape}")
    return sorted_member(np.asarray(ids, dtype=np.int64), sidecar)


def check_base(ws: Workspace, file: str, expected_bytes: int | None) -> None:
    """Milliseconds at any size: framing, sizes and checksums of the small parts (IndexFileError if not)."""
    path = ws.index_dir / file
    if not file.endswith(ONDISK_SUFFIX):
        verify_file(path, verify="quick", expected_bytes=expected_bytes)
        return
    if not path.is_dir():
        raise IndexFileError(f"on-disk index {path} is missing")
    check_files(path, read_manifest(path))


@dataclass(frozen=True)
class BuildPlace:
    """Where an on-disk build adds its shards: "thread" (this process) or "ray" (one task per shard on the
    cluster at `ray_address`, joined only when a build happens; every node must see the workspace folder, as
    the Ray engine's result shards already require)."""

    executor: str = "thread"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.executor not in ("thread", "ray"):  # anything else would silently take the Ray branch
            raise ValueError(f"an on-disk build runs on 'thread' or 'ray', not {self.executor!r}")


def build_ondisk_base(ws: Workspace, s: Session, space: SpaceInfo, choice: IndexChoice, file: str,
                      place: BuildPlace | None = None) -> tuple[int, int]:
    """Build the on-disk base `file` from every vector the store holds in `s`'s transaction; (ntotal, bytes)."""
    source = store_source(ws, s, space)
    if place is None or place.executor == "thread":
        info = build_ondisk(source, space.dim, space.metric, choice, ws.index_dir, file, chunk_rows=BUILD_CHUNK_ROWS)
        return info.ntotal, info.bytes_on_disk
    import ray

    from .pipeline.ray_engine import connect

    started = connect(place.ray_address)
    try:
        tasks = max(1, int(ray.cluster_resources().get("CPU", 1)))  # shards in flight: one per CPU of the cluster
        info = build_ondisk(source, space.dim, space.metric, choice, ws.index_dir, file, chunk_rows=BUILD_CHUNK_ROWS,
                            workers=tasks, executor="ray")
    finally:
        if started:
            ray.shutdown()
    return info.ntotal, info.bytes_on_disk


def extend_ondisk_base(ws: Workspace, base: OnDiskIndex, file: str, add_ids: np.ndarray, add_vectors: np.ndarray,
                       dead: np.ndarray) -> tuple[int, int]:
    """Write the on-disk base `file`: `base` without `dead`, with the added vectors, no retraining; (ntotal, bytes)."""
    info = extend_ondisk(base, add_ids, add_vectors, dead, ws.index_dir, file)
    return info.ntotal, info.bytes_on_disk


def base_bytes(ws: Workspace, file: str) -> int:
    path = ws.index_dir / file
    return folder_bytes(path) if path.is_dir() else path.stat().st_size


def remove_base(path: Path) -> None:
    """Delete a snapshot base, file or folder (missing is fine)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def store_source(ws: Workspace, s: Session, space: SpaceInfo) -> VectorSource:
    """The space's stored vectors as a build source: chunks streamed shard by shard, and a seeded training
    sample read by id (a random subset of the space's ids, looked up in the store)."""
    count = store.count_vectors(s, space)

    def chunks(rows: int):  # noqa: ANN202 - Iterator[Chunk]
        return store.iter_vectors(ws, space, rows, session=s)

    def sample(n: int, seed: int) -> np.ndarray:
        ids = np.fromiter(s.scalars(select(Embedding.image_id).where(Embedding.space_id == space.id)
                                    .order_by(Embedding.image_id)), dtype=np.int64)
        _found, vectors = store.read_vectors(ws, s, space, ids[sample_positions(len(ids), n, seed)].tolist())
        return vectors

    return VectorSource(chunks, count, space.dim, sample)


def store_lookup(ws: Workspace, space: SpaceInfo):  # noqa: ANN201 - ondisk.Lookup
    """ids -> their stored vectors, for exact re-ranking; an id deleted since the base was built (a race with
    an indexing run) gets a NaN row, which the re-ranking drops."""

    def lookup(ids: np.ndarray) -> np.ndarray:
        with ws.session() as s:
            found, vectors = store.read_vectors(ws, s, space, ids.tolist())
        if len(found) == len(ids):
            return vectors
        out = np.full((len(ids), space.dim), np.nan, dtype=np.float32)
        out[np.searchsorted(ids, found)] = vectors
        return out

    return lookup
