"""Parquet result shards of a distributed indexing job: one file per embedded batch, keyed by file identity.

A shard row is a planned file as the executor saw it - its identity (path, size, mtime_ns), what decoding
found (sha256, size in pixels, format, EXIF date, or the reason it was rejected) and one vector per space -
everything the driver needs to commit it through `writer.record_batch` / `record_failure` exactly as the local
engine does. New files have no image id until they are committed, so the identity is the file's path + size +
mtime_ns (`image_id` is kept too, for files the catalog already holds): a shard whose file changed since it
was written no longer matches the plan and is not reused.

Paths and errors are stored as bytes (`os.fsencode`): file names need not be valid UTF-8. This module is
light (numpy + pyarrow): Ray workers and the driver both import it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_path
from ..imaging.scan import FoundFile
from .prepare import Prepared

SHARD_GLOB = "shard-*.parquet"
ENCODERS_KEY = b"stylelens.encoders"  # schema metadata: {space: encoder id} the vectors were made with


@dataclass
class ShardRow:
    found: FoundFile
    prepared: Prepared  # without pixels
    image_id: int | None
    vectors: dict[str, np.ndarray] | None  # space -> vector; None for a rejected file


def shard_name(first: int) -> str:
    """The file name of the shard whose first row is the `first`-th planned file (unique within a job)."""
    return f"shard-{first:09d}.parquet"


def write_shard(path: str | os.PathLike[str], rows: list[ShardRow], encoders: dict[str, str]) -> Path:
    """Write `rows` atomically to `path` (a reader or a rerun never sees half a shard)."""
    path = Path(path)
    columns: dict[str, pa.Array] = {
        "path": pa.array([os.fsencode(r.found.path) for r in rows], pa.binary()),
        "size": pa.array([r.found.size for r in rows], pa.int64()),
        "mtime_ns": pa.array([r.found.mtime_ns for r in rows], pa.int64()),
        "image_id": pa.array([r.image_id for r in rows], pa.int64()),
        "error": pa.array([None if r.prepared.error is None else os.fsencode(r.prepared.error) for r in rows],
                          pa.binary()),
        "sha256": pa.array([r.prepared.sha256 for r in rows], pa.string()),
        "width": pa.array([r.prepared.width for r in rows], pa.int64()),
        "height": pa.array([r.prepared.height for r in rows], pa.int64()),
        "format": pa.array([r.prepared.format for r in rows], pa.string()),
        "taken_at": pa.array([None if r.prepared.taken_at is None else r.prepared.taken_at.isoformat()
                              for r in rows], pa.string()),  # ISO text keeps naive vs aware exactly
    }
    for space in encoders:
        dim = next((len(r.vectors[space]) for r in rows if r.vectors is not None), 0)
        values = [None if r.vectors is None else np.asarray(r.vectors[space], np.float32) for r in rows]
        columns[f"vec:{space}"] = pa.array(values, pa.list_(pa.float32(), dim) if dim else pa.list_(pa.float32()))
    table = pa.table(columns).replace_schema_metadata({ENCODERS_KEY: json.dumps(encoders, sort_keys=True)})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".tmp") as tmp:
        pq.write_table(table, tmp)
    return path


def read_shard(path: str | os.PathLike[str]) -> tuple[dict[str, str], list[ShardRow]]:
    """({space: encoder id}, rows) of a shard written by `write_shard`."""
    table = pq.read_table(path)
    encoders = json.loads((table.schema.metadata or {}).get(ENCODERS_KEY, b"{}"))
    cols = table.to_pydict()
    rows = []
    for i in range(table.num_rows):
        error = cols["error"][i]
        found = FoundFile(path=os.fsdecode(cols["path"][i]), size=cols["size"][i], mtime_ns=cols["mtime_ns"][i])
        taken = cols["taken_at"][i]
        prepared = Prepared(found.path, error=None if error is None else os.fsdecode(error), sha256=cols["sha256"][i],
                            width=cols["width"][i], height=cols["height"][i], format=cols["format"][i],
                            taken_at=None if taken is None else datetime.fromisoformat(taken))
        vectors = None if error is not None else {
            space: np.asarray(cols[f"vec:{space}"][i], np.float32) for space in encoders}
        rows.append(ShardRow(found, prepared, cols["image_id"][i], vectors))
    return encoders, rows


def list_shards(jobs_dir: str | os.PathLike[str]) -> list[Path]:
    """Every finished shard of every job under `jobs_dir`, oldest job first, in row order within a job."""
    root = Path(jobs_dir)
    if not root.is_dir():
        return []
    return sorted(root.glob(f"*/{SHARD_GLOB}"))


def remove_leftovers(jobs_dir: str | os.PathLike[str]) -> None:
    """Delete half-written shards of killed workers (`.shard-*.tmp`, see `atomic_path`) and empty job folders.
    Only under the workspace's index lock: no live job is writing then."""
    root = Path(jobs_dir)
    if not root.is_dir():
        return
    for job in root.iterdir():
        if not job.is_dir() or job.is_symlink():
            continue
        for tmp in job.glob(".shard-*"):
            tmp.unlink(missing_ok=True)
        if not any(job.iterdir()):
            job.rmdir()
