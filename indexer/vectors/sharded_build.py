"""Build an on-disk IVF / IVF-PQ index the FAISS way: train once on a sample, add shards in parallel, merge.

1. The coarse quantizer (and PQ codebooks) are trained ONCE on a bounded seeded sample
   (`IndexChoice.train_size` rows, `TRAIN_NITER` k-means iterations): training cost does not grow with N.
2. The trained empty index is serialised once; every chunk of the source is added to its own copy of it by a
   worker (threads by default: faiss's add releases the GIL; or processes, or Ray tasks on a cluster) and
   written as a shard file. A worker holds one chunk, so peak memory is ~ chunk_rows x dim x 4 x (workers + 1)
   plus 8 bytes per id for the sorted id sidecar - not N x dim.
3. `faiss.contrib.ondisk.merge_ondisk` concatenates the shards' inverted lists, list by list, in shard order
   into one `lists.ivfdata`; the small `index.faiss` keeps the quantizer and the list offsets.
Everything is written inside a temporary folder published by `atomic_dir` (see `ondisk_files`).

Threads vs processes, measured at 200k x 512 (IVF2048,Flat, 25k-row chunks, 2 cores, OMP_WAIT_POLICY=PASSIVE):
the add phase took 10.7 s with one thread, 9.1 s with two threads and 9.3 s with two processes, 22 CPU s in
every case: faiss's add already spreads one chunk over all cores with OpenMP, a second worker only overlaps
reading the next chunk. Threads are the default (no chunk is pickled); workers > 1 pays off on more cores or
with Ray tasks on several machines.

Shard order is chunk order and IVF assignment is deterministic, so the merged lists hold the same entries in
the same order as one index built in one go from the same trained quantizer (`tests/test_ondisk_index.py`).
"""
from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import faiss
import numpy as np
from faiss.contrib.ondisk import merge_ondisk

from ..atomic import atomic_dir
from . import faiss_ops as ops
from .ondisk_files import IDS_FILE, INDEX_FILE, LISTS_FILE, faiss_quiet, folder_bytes, write_manifest
from .selection import METRICS, PQ_MIN_TRAIN, REFINE_FACTOR, IndexChoice, choose_ondisk_index, classify, parse_override
from .vector_source import Chunk, VectorSource

TRAIN_NITER = 10  # k-means iterations for the coarse quantizer and the PQ codebooks (faiss IVF default: 10)
EXECUTORS = ("thread", "process", "ray")


@dataclass(frozen=True)
class OnDiskIndexInfo:
    """What `build_ondisk` wrote: the folder, its size and how long each phase took."""

    path: Path
    ntotal: int
    dim: int
    metric: str
    choice: IndexChoice
    shards: int
    train_rows: int
    bytes_on_disk: int
    seconds: dict[str, float] = field(default_factory=dict)


def build_ondisk(source: VectorSource, dim: int, metric: str, choice: IndexChoice | str | None,
                 out_dir: str | os.PathLike[str], name: str, *, workers: int = 1, chunk_rows: int = 65536,
                 seed: int = 0, executor: str = "thread", ray_address: str | None = None) -> OnDiskIndexInfo:
    """Build `<out_dir>/<name>/` from `source` (see module doc); replaces an existing index of that name atomically.

    `choice`: an IndexChoice of kind ivf / ivfpq, a faiss factory string ("IVF1024,PQ32x8"), or None for
    `choose_ondisk_index(source.count, dim, metric)`. `executor`: "thread" | "process" | "ray" (Ray tasks on
    the cluster at `ray_address`, or the one already initialised; shard files go to `out_dir`, which every
    node must see). Raises ValueError for bad input (dim mismatch, NaN, negative or duplicate ids, empty source).
    """
    if source.dim != dim:
        raise ValueError(f"source has dim {source.dim}, index asked for {dim}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, not {executor!r}")
    if workers < 1 or chunk_rows < 1:
        raise ValueError("workers and chunk_rows must be >= 1")
    choice = _resolve_choice(choice, source.count, dim, metric)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    with atomic_dir(out_dir / name) as tmp:
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; the published folder is read by other processes/users
        start = time.perf_counter()
        template, train_rows = train_template(source, dim, choice, seed, chunk_rows)
        seconds["train"] = time.perf_counter() - start
        start = time.perf_counter()
        shard_dir = tmp / "shards"
        shard_dir.mkdir()
        shard_paths, ids = _add_shards(source, dim, chunk_rows, template, shard_dir, workers, executor, ray_address)
        np.save(tmp / IDS_FILE, ids)
        seconds["add"] = time.perf_counter() - start
        start = time.perf_counter()
        merged = faiss.deserialize_index(template)
        with faiss_quiet():
            merge_ondisk(merged, [str(p) for p in shard_paths], str(tmp / LISTS_FILE))
        if merged.ntotal != len(ids):
            raise RuntimeError(f"merged {merged.ntotal} vectors, expected {len(ids)}")
        faiss.write_index(merged, str(tmp / INDEX_FILE))
        del merged  # unmaps lists.ivfdata
        for path in shard_paths:
            path.unlink()
        shard_dir.rmdir()
        seconds["merge"] = time.perf_counter() - start
        start = time.perf_counter()
        header = {"dim": dim, "metric": metric, "kind": choice.kind, "ntotal": int(len(ids)),
                  "choice": choice.to_dict(), "faiss_version": faiss.__version__, "train_rows": train_rows,
                  "shards": len(shard_paths), "seed": seed, "executor": executor}
        write_manifest(tmp, header)
        seconds["checksum"] = time.perf_counter() - start
    path = out_dir / name
    return OnDiskIndexInfo(path, int(len(ids)), dim, metric, choice, len(shard_paths), train_rows,
                           folder_bytes(path), seconds)


def train_template(source: VectorSource, dim: int, choice: IndexChoice, seed: int,
                   chunk_rows: int = 65536) -> tuple[np.ndarray, int]:
    """(the trained empty index serialised, rows it was trained on): the copy every shard starts from."""
    index = faiss.index_factory(dim, choice.factory, METRICS[choice.metric])
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None or classify(index) not in ("ivf", "ivfpq"):
        raise ValueError(f"an on-disk index needs an IVF factory, not {choice.factory!r}")
    ops.set_training_seed(index, seed)
    ivf.cp.niter = TRAIN_NITER
    inner = faiss.downcast_index(ivf)
    if getattr(inner, "pq", None) is not None:
        inner.pq.cp.niter = TRAIN_NITER
    if hasattr(inner, "do_polysemous_training"):  # index_factory turns it on; it only serves Hamming
        inner.do_polysemous_training = False  # filtering, which re-ranking replaces (it ran > 5 min at PQ64)
    sample = source.draw_sample(choice.train_size or source.count, seed, chunk_rows)
    if not np.isfinite(sample).all():
        raise ValueError("training sample contains NaN or infinite values")
    try:
        index.train(sample)
    except RuntimeError as exc:
        raise ValueError(f"cannot train {choice.factory!r} on {len(sample)} vectors: "
                         f"{str(exc).strip().splitlines()[-1]}") from exc
    return faiss.serialize_index(index), len(sample)


def add_shard(template: np.ndarray, ids: np.ndarray, vectors: np.ndarray, path: str, omp_threads: int = 0) -> int:
    """Add one chunk to a fresh copy of the trained empty index and write it to `path`; return its size.

    `omp_threads` > 0 caps faiss's OpenMP team for the calling thread: pool threads that each ran a full
    team would oversubscribe the cores (spinning OpenMP threads slowed a 2-core run by an order of magnitude)."""
    if omp_threads > 0:
        faiss.omp_set_num_threads(omp_threads)
    index = faiss.deserialize_index(template)
    index.add_with_ids(vectors, ids)
    faiss.write_index(index, path)
    return int(index.ntotal)


def _add_shards(source: VectorSource, dim: int, chunk_rows: int, template: np.ndarray, shard_dir: Path,
                workers: int, executor: str, ray_address: str | None) -> tuple[list[Path], np.ndarray]:
    """Run `add_shard` over the source's chunks with at most `workers` chunks in flight; (shard paths, sorted ids)."""
    submit, close = _submitter(executor, workers, template, ray_address)
    paths: list[Path] = []
    id_parts: list[np.ndarray] = []
    pending: deque[Any] = deque()
    try:
        for ids, vectors in _checked_chunks(source, dim, chunk_rows):
            path = shard_dir / f"shard_{len(paths):06d}.index"
            pending.append(submit(ids, vectors, str(path)))
            paths.append(path)
            id_parts.append(ids)
            while len(pending) >= workers:
                pending.popleft().result()
        while pending:
            pending.popleft().result()
    finally:
        close()
    if not paths:
        raise ValueError("the vector source is empty: nothing to index")
    all_ids = np.sort(np.concatenate(id_parts))
    dup = np.flatnonzero(all_ids[1:] == all_ids[:-1])
    if len(dup):
        raise ValueError(f"{len(dup)} ids occur more than once in the source (e.g. {all_ids[dup[:5]].tolist()})")
    return paths, all_ids


def _checked_chunks(source: VectorSource, dim: int, chunk_rows: int) -> Iterator[Chunk]:
    """The source's chunks, validated: int64 ids >= 0, finite float32 (n, dim), n <= chunk_rows."""
    for ids, vectors in source.chunks(chunk_rows):
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if ids.ndim != 1 or vectors.shape != (len(ids), dim):
            raise ValueError(f"chunk of {ids.shape} ids and vectors {vectors.shape}, expected (n,) and (n, {dim})")
        if len(ids) > chunk_rows:
            raise ValueError(f"the source returned a chunk of {len(ids)} rows, more than chunk_rows={chunk_rows}")
        if len(ids) and ids.min() < 0:
            raise ValueError("ids must be >= 0 (-1 marks missing results)")
        if not np.isfinite(vectors).all():
            raise ValueError("vectors contain NaN or infinite values")
        if len(ids):
            yield ids, vectors


class _Done:
    """A submitted Ray task with the Future interface: `result()` waits for it."""

    def __init__(self, ref: Any, get: Callable[[Any], Any]) -> None:
        self._ref, self._get = ref, get

    def result(self) -> Any:
        return self._get(self._ref)


def _submitter(executor: str, workers: int, template: np.ndarray,
               ray_address: str | None) -> tuple[Callable[[np.ndarray, np.ndarray, str], Any], Callable[[], None]]:
    """(submit(ids, vectors, path) -> future, close()) for the chosen executor."""
    if executor == "ray":
        import ray  # optional extra: pip install -e ".[ray]"

        if not ray.is_initialized():
            ray.init(address=ray_address, include_dashboard=False)
        remote = ray.remote(add_shard)
        template_ref = ray.put(template)
        return (lambda ids, vecs, path: _Done(remote.remote(template_ref, ids, vecs, path), ray.get)), (lambda: None)
    pool: Executor = ThreadPoolExecutor(workers) if executor == "thread" else ProcessPoolExecutor(workers)

    omp_threads = max(1, (os.cpu_count() or 1) // workers)

    def submit(ids: np.ndarray, vectors: np.ndarray, path: str) -> Future[int]:
        return pool.submit(add_shard, template, ids, vectors, path, omp_threads)

    return submit, lambda: pool.shutdown(wait=True, cancel_futures=True)


def _resolve_choice(choice: IndexChoice | str | None, n: int, dim: int, metric: str) -> IndexChoice:
    if choice is None:
        return choose_ondisk_index(n, dim, metric=metric)
    if isinstance(choice, str):
        parsed = parse_override(choice, dim, metric)
        train = max(parsed.train_size, PQ_MIN_TRAIN) if parsed.kind == "ivfpq" else parsed.train_size
        refine = REFINE_FACTOR if parsed.kind == "ivfpq" else 0
        return IndexChoice(parsed.factory, parsed.kind, metric, nprobe=parsed.nprobe, train_size=min(train, n),
                           reason=parsed.reason, extra={"refine_factor": refine})
    if choice.metric != metric:
        raise ValueError(f"choice is for metric {choice.metric!r}, index asked for {metric!r}")
    return choice
