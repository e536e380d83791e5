"""The `ray` executor of an indexing job: Ray Data decodes the planned files in CPU tasks and an actor pool
embeds them; every embedded batch becomes a Parquet shard (`shards.py`) that the driver commits.

The driver plans exactly as the local engine does (`run.py`); only the step "planned files -> decoded
metadata + vectors" runs here. Each embedding actor loads every space's encoder once and writes its batch
to `jobs/<job>/shard-<n>.parquet` atomically before handing the file name back, so work finished by the
cluster survives a killed driver: the next run plans again, commits the shards whose file identities are
still planned (path + size + mtime_ns, see `shards.py`) and embeds only the rest. A shard is deleted once
committed; shards that no longer match anything planned (their file changed, or another corpus was
indexed since) are deleted unused - they are a cache, never the source of truth.

Ray is imported only here, and only when the engine runs: `--engine local` never imports it. On a real
cluster every node must have StyleLens installed and see the indexed files and the workspace under the same
paths (a shared filesystem).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..encoders.runtime import use_threads
from ..imaging.scan import FoundFile
from ..spaces import SpaceInfo, space_encoder
from ..workspace import Workspace, WorkspaceError
from .prepare import Prepared, PrepareTask, embed_pixels, prepare
from .shards import ShardRow, list_shards, read_shard, remove_leftovers, shard_name, write_shard

DECODE_BATCH = 4  # files per decoding function call, as the local engine's CHUNK
DECODE_BLOCK = 64  # files per decoding task (at most MAX_BLOCKS tasks): each Ray Data task costs scheduling,
# metadata and object-store work in the driver, the raylet and a worker. On the 2-core machine, 600 JPEGs in
# 150 tasks of 4 took 47.5 s, in 9 tasks of 64 (~0.7 s of decoding each) 36-38 s (bench_scale.py ray-vs-local)
MAX_BLOCKS = 200
DECODE_MEMORY = 256 * 2**20  # per decoding task: a few decoded images up to --max-side and their crops


@dataclass(frozen=True)
class RayOptions:
    """How to run on Ray. `address`: "auto" (the cluster `ray start` made on this machine), "ray://HOST:PORT"
    (Ray Client) or a GCS address; None joins the cluster this process already joined, else starts one on
    this machine with all its CPUs. `concurrency`: embedding actors (default 1); `num_gpus`: GPUs per actor."""

    address: str | None = None
    concurrency: int | None = None
    num_gpus: float = 0.0

    def check(self) -> None:
        if self.concurrency is not None and not 1 <= self.concurrency <= 1024:
            raise WorkspaceError(f"--ray-concurrency must be 1..1024 actors, got {self.concurrency}")
        if not 0 <= self.num_gpus <= 64:
            raise WorkspaceError(f"--ray-num-gpus must be 0..64 per actor, got {self.num_gpus}")


def require_ray() -> None:
    """Fail before anything is written when Ray is not installed."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise WorkspaceError(f"--engine ray needs Ray Data ({exc}): pip install -e \".[ray]\"") from exc


def connect(address: str | None) -> bool:
    """Join (or start) the Ray cluster; True when this call started the connection (the caller shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    return True


def embedded_shards(ws: Workspace, todo: dict[str, FoundFile], image_ids: dict[str, int], spaces: list[SpaceInfo],
                    recipes: tuple, max_side: int | None, batch_size: int,
                    options: RayOptions) -> Iterator[list[ShardRow]]:
    """Yield the planned files `todo` as shard rows, a shard at a time, in plan order (shards left by an
    interrupted job first). The shard file is deleted when the caller asks for the next one, i.e. after it
    committed the rows; a kill in between leaves it to be committed by the next run."""
    encoders = {sp.name: sp.encoder_id for sp in spaces}
    remove_leftovers(ws.jobs_dir)
    left = dict(todo)
    for shard in list_shards(ws.jobs_dir):
        usable = [r for r in _read_or_none(shard, encoders) if left.get(r.found.path) == r.found]
        for row in usable:
            del left[row.found.path]
        if usable:
            yield usable
        shard.unlink(missing_ok=True)
    remove_leftovers(ws.jobs_dir)
    if not left:
        return
    job_dir = ws.job_dir(f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}")
    job_dir.mkdir(parents=True, exist_ok=True)
    started = connect(options.address)
    try:
        for name in _run_dataset(left, image_ids, spaces, recipes, max_side, batch_size, options, job_dir):
            shard = Path(name)
            yield read_shard(shard)[1]  # just written by this job's actors: unreadable is an error, not a miss
            shard.unlink(missing_ok=True)
    finally:
        if started:
            import ray

            ray.shutdown()
    remove_leftovers(ws.jobs_dir)


def _read_or_none(shard: Path, encoders: dict[str, str]) -> list[ShardRow]:
    """A shard's rows when it was made with these encoders; [] for another profile's or an unreadable one."""
    try:
        made_with, rows = read_shard(shard)
    except Exception:  # noqa: BLE001 - a damaged cache file is recomputed, never fatal
        return []
    return rows if made_with == encoders else []


def _run_dataset(left: dict[str, FoundFile], image_ids: dict[str, int], spaces: list[SpaceInfo], recipes: tuple,
                 max_side: int | None, batch_size: int, options: RayOptions, job_dir: Path) -> Iterator[str]:
    """The Ray Data pipeline: planned files -> decode tasks -> embedding actors -> shard file names, in order."""
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # no execution plans or bar notices on the terminal
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # commit in plan order: the same originals of duplicates
    ctx.enable_progress_bars = False  # the job's own bar counts committed files
    items = [{"seq": i, "path": os.fsencode(f.path), "size": f.size, "mtime_ns": f.mtime_ns,
              "image_id": image_ids.get(f.path, -1)} for i, f in enumerate(left.values())]
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items) // DECODE_BLOCK, MAX_BLOCKS)))
    # the memory hint (logical: Ray schedules by it) also keeps decoding in CPU tasks of its own: with the
    # actors' remote arguments Ray would fuse it into the actors, serialising decoding and embedding
    ds = ds.map_batches(decode_batch, fn_kwargs={"recipes": recipes, "max_side": max_side},
                        batch_size=DECODE_BATCH, batch_format="numpy", num_cpus=1, memory=DECODE_MEMORY)
    ds = ds.map_batches(EmbedActor, fn_constructor_kwargs={"spaces": spaces, "job_dir": str(job_dir)},
                        batch_size=batch_size, batch_format="numpy",
                        compute=ray.data.ActorPoolStrategy(size=options.concurrency or 1),
                        num_gpus=options.num_gpus or None, num_cpus=1 if not options.num_gpus else None)
    for row in ds.iter_rows():
        yield str(row["shard"])


def decode_batch(batch: dict[str, np.ndarray], recipes: tuple, max_side: int | None) -> dict[str, np.ndarray]:
    """A Ray task: `prepare` (the local engine's and query images' function) for each file of the batch.
    Rejected files keep their reason and get zero pixels, so every column has one type and shape."""
    prepared = [prepare(PrepareTask(os.fsdecode(p), recipes, max_side)) for p in batch["path"]]
    out = {key: batch[key] for key in ("seq", "path", "size", "mtime_ns", "image_id")}
    out["error"] = _objects([b"" if p.ok else os.fsencode(p.error or "unknown error") for p in prepared])
    out["sha256"] = _objects([p.sha256 or "" for p in prepared])
    out["format"] = _objects([p.format or "" for p in prepared])
    out["taken_at"] = _objects([p.taken_at.isoformat() if p.taken_at else "" for p in prepared])
    out["width"] = np.asarray([-1 if p.width is None else p.width for p in prepared], np.int64)
    out["height"] = np.asarray([-1 if p.height is None else p.height for p in prepared], np.int64)
    for name, recipe in recipes:
        blank = np.zeros((recipe.size, recipe.size, 3), np.uint8)
        out[f"px:{name}"] = np.stack([p.pixels[name] if p.ok else blank for p in prepared])
    return out


def _objects(values: list) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


class EmbedActor:
    """An embedding actor: loads every space's encoder once, then embeds batches and writes each as a shard."""

    def __init__(self, spaces: list[SpaceInfo], job_dir: str) -> None:
        _use_the_node_threads()
        self.models = {sp.name: space_encoder(sp) for sp in spaces}
        self.encoders = {sp.name: sp.encoder_id for sp in spaces}
        self.job_dir = Path(job_dir)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ok = np.asarray([e == b"" for e in batch["error"]], dtype=bool)
        vectors = {name: embed_pixels(enc, batch[f"px:{name}"][ok]) if ok.any() else None
                   for name, enc in self.models.items()}
        rows: list[ShardRow] = []
        row_of_ok = np.cumsum(ok) - 1
        for i in range(len(ok)):
            found = FoundFile(os.fsdecode(batch["path"][i]), int(batch["size"][i]), int(batch["mtime_ns"][i]))
            if ok[i]:
                taken = batch["taken_at"][i]
                prepared = Prepared(found.path, sha256=batch["sha256"][i], width=int(batch["width"][i]),
                                    height=int(batch["height"][i]), format=batch["format"][i] or None,
                                    taken_at=_datetime(taken))
                vecs = {name: v[row_of_ok[i]] for name, v in vectors.items()}
            else:
                prepared, vecs = Prepared(found.path, error=os.fsdecode(batch["error"][i])), None
            image_id = int(batch["image_id"][i])
            rows.append(ShardRow(found, prepared, image_id if image_id >= 0 else None, vecs))
        path = write_shard(self.job_dir / shard_name(int(batch["seq"][0])), rows, self.encoders)
        return {"shard": np.asarray([str(path)]), "rows": np.asarray([len(rows)])}


def _use_the_node_threads() -> None:
    """Ray starts a 1-CPU actor with OMP_NUM_THREADS=1, so its forward runs on one thread while the decode
    tasks may leave cores idle (they wait on the actor). The local engine's forward uses every core next to
    its decoding workers; the actor does the same (on a GPU the forward is not the CPU's), for torch and for
    the onnxruntime sessions (the starter style encoder), which would otherwise read OMP_NUM_THREADS=1."""
    use_threads(os.cpu_count() or 1)


def _datetime(text: str):  # noqa: ANN202 - datetime | None
    from datetime import datetime

    return datetime.fromisoformat(text) if text else None
