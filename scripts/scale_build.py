"""Scale benchmarks for issue 18; one subcommand per section.

  build  (b) sharded build + merge of an on-disk index over N synthetic clustered vectors:
         python scripts/bench_scale.py build --n 1000000 --dim 512 [--workers 2 --executor thread]

The vectors are clustered (a mixture of Gaussian clusters, L2-normalised) because real embeddings are:
images of one style or subject sit close together. Independent random Gaussians have no neighbourhood
structure at all (every point is nearly equidistant in 512-d), the adversarial case for any ANN index,
and would measure the index against a distribution it never meets. They are generated in chunks into an
`.npy` memmap (ids = row numbers) so generation itself never holds N x dim in RAM.

Printed: build time per phase, peak RSS of the process and its children (psutil, sampled every 50 ms) and
peak anonymous memory (RssAnon: what cannot be paged out; RSS also counts mapped file pages), bytes on disk,
recall@10 against an exact chunked flat scan on held-out queries, warm single-query p50 / p95 latency, and a
COLD fresh process (page cache of the index and vector files dropped with posix_fadvise) that opens the index
and answers one query: its wall time including Python and faiss imports, and the open + query part alone.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

# Before faiss loads. Spinning OpenMP threads on a shared 2-core machine turned a 4 ms query into 56 ms
# (parallel_mode 1 while other jobs ran) and a 4 s training into 99 s.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer.vectors.ondisk import OnDiskIndex  # noqa: E402
from indexer.vectors.ondisk_files import DATA_FILES, remove_build_temporaries  # noqa: E402
from indexer.vectors.sharded_build import build_ondisk  # noqa: E402
from indexer.vectors.vector_source import VectorSource  # noqa: E402

GEN_CHUNK = 100_000


def clustered(rng: np.random.Generator, centers: np.ndarray, n: int, spread: float) -> np.ndarray:
    """n unit vectors around random centres (per-cluster spread varies 0.5x-1.5x)."""
    which = rng.integers(0, len(centers), n)
    scale = (0.5 + (which % 11) / 10.0).astype(np.float32)[:, None] * spread
    x = centers[which] + scale * rng.standard_normal((n, centers.shape[1]), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def generate(path: Path, n: int, dim: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(memmap of n base vectors, held-out queries) - reused when `path` already holds them."""
    qpath = path.with_suffix(".queries.npy")
    if path.exists() and qpath.exists():
        base = np.load(path, mmap_mode="r")
        if base.shape == (n, dim):
            return base, np.load(qpath)
    rng = np.random.default_rng(seed)
    # centre norm 2, noise norm ~1: neighbours within a cluster at cosine ~0.8
    centers = rng.standard_normal((max(100, n // 200), dim), dtype=np.float32) / np.sqrt(dim) * 2
    spread = 1.0 / np.sqrt(dim)
    base = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for start in range(0, n, GEN_CHUNK):
        stop = min(n, start + GEN_CHUNK)
        base[start:stop] = clustered(rng, centers, stop - start, spread)
    base.flush()
    queries = clustered(rng, centers, n_queries, spread)
    np.save(qpath, queries)
    return np.load(path, mmap_mode="r"), queries


def exact_topk(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact inner-product top-k ids by a chunked flat scan (ids = row numbers)."""
    import faiss

    best_d = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.full((len(queries), k), -1, dtype=np.int64)
    for start in range(0, len(base), GEN_CHUNK):
        chunk = np.ascontiguousarray(base[start:start + GEN_CHUNK])
        d, i = faiss.knn(queries, chunk, k, metric=faiss.METRIC_INNER_PRODUCT)
        d, i = np.concatenate([best_d, d], 1), np.concatenate([best_i, i + start], 1)
        order = np.argsort(-d, axis=1, kind="stable")[:, :k]
        best_d, best_i = np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)
    return best_i


class PeakMemory:
    """Samples RSS of this process + children, and this process's RssAnon, every 50 ms."""

    def __init__(self) -> None:
        import psutil

        self._proc, self.rss, self.anon = psutil.Process(), 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self._proc.memory_info().rss + sum(c.memory_info().rss for c in self._proc.children(True))
                self.rss = max(self.rss, rss)
                self.anon = max(self.anon, _rss_anon())
            except Exception:  # a child that just exited
                pass
            time.sleep(0.05)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_seconds(proc) -> float:
    """User + system CPU seconds of a process and its finished children (robust on a shared machine)."""
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def _rss_anon() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def drop_cache(*paths: Path) -> None:
    """Evict these files from the page cache (no root needed): the next read comes from disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


COLD = """
import sys, time, json
t0 = time.perf_counter()
import numpy as np
sys.path.insert(0, {root!r})
from indexer.vectors.ondisk import OnDiskIndex
t1 = time.perf_counter()
base = np.load({data!r}, mmap_mode="r")
index = OnDiskIndex.open({folder!r}, lookup=lambda ids: base[ids])
t2 = time.perf_counter()
q = np.load({queries!r})[:1]
scores, ids = index.search(q, 10)
t3 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "open_s": t2 - t1, "query_s": t3 - t2, "ids": ids[0].tolist()}}))
"""


def cold_query(folder: Path, data: Path, queries: Path) -> dict:
    drop_cache(data, *(folder / name for name in DATA_FILES))
    code = COLD.format(root=str(ROOT), data=str(data), folder=str(folder), queries=str(queries))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def cmd_build(args: argparse.Namespace) -> None:
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"base_{args.n}x{args.dim}.npy"
    start = time.perf_counter()
    base, queries = generate(data, args.n, args.dim, args.queries, args.seed)
    gen_s = time.perf_counter() - start
    ids = np.arange(args.n, dtype=np.int64)
    source = VectorSource.from_arrays(ids, base)
    remove_build_temporaries(work, "index")
    import psutil

    cpu_before = _cpu_seconds(psutil.Process())
    with PeakMemory() as peak:
        start = time.perf_counter()
        info = build_ondisk(source, args.dim, "ip", args.factory, work, "index", workers=args.workers,
                            chunk_rows=args.chunk_rows, seed=args.seed, executor=args.executor)
        build_s = time.perf_counter() - start
    build_cpu = _cpu_seconds(psutil.Process()) - cpu_before
    index = OnDiskIndex.open(info.path, lookup=lambda wanted: base[wanted])
    truth = exact_topk(base, queries, 10)
    _, found = index.search(queries, 10)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
    raw = OnDiskIndex.open(info.path, refine_factor=0)
    _, found_raw = raw.search(queries, 10)
    recall_raw = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found_raw, truth)]))
    index.search(queries[:20], 10)  # warm up
    lat = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None], 10)
        lat.append(time.perf_counter() - t)
    cold = cold_query(info.path, data, data.with_suffix(".queries.npy"))
    rows = [
        ("vectors", f"{args.n:,} x {args.dim}"), ("factory", info.choice.factory),
        ("executor / workers / chunk", f"{args.executor} / {args.workers} / {args.chunk_rows:,}"),
        ("generate data (s)", f"{gen_s:.1f}"), ("build total (s)", f"{build_s:.1f} wall, {build_cpu:.0f} CPU"),
        ("  train / add / merge / checksum (s)", " / ".join(f"{info.seconds[k]:.1f}" for k in
                                                       ("train", "add", "merge", "checksum"))),
        ("train rows / shards", f"{info.train_rows:,} / {info.shards}"),
        ("peak RSS incl. children (GB)", f"{peak.rss / 1e9:.2f}"), ("peak RssAnon (GB)", f"{peak.anon / 1e9:.2f}"),
        ("index bytes on disk (GB)", f"{info.bytes_on_disk / 1e9:.3f}"),
        ("recall@10 refined / raw", f"{recall:.3f} / {recall_raw:.3f}"),
        ("warm p50 / p95 (ms)", f"{np.percentile(lat, 50) * 1e3:.2f} / {np.percentile(lat, 95) * 1e3:.2f}"),
        ("cold process wall (s)", f"{cold['wall_s']:.2f}"),
        ("  imports / open / first query (s)",
         f"{cold['import_s']:.2f} / {cold['open_s']:.2f} / {cold['query_s']:.2f}"),
        ("cold answer == warm answer", str(cold["ids"] == found[0].tolist())),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'figure'.ljust(width)} | value |\n| {'-' * width} | --- |")
    for key, value in rows:
        print(f"| {key.ljust(width)} | {value} |")
    if not args.keep:
        shutil.rmtree(info.path)
        data.unlink()
        data.with_suffix(".queries.npy").unlink()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="(b) sharded build + merge of an on-disk index")
    build.add_argument("--n", type=int, default=1_000_000)
    build.add_argument("--dim", type=int, default=512)
    build.add_argument("--dir", default="/tmp/stylelens_bench_scale")
    build.add_argument("--factory", default=None, help="faiss factory (default: choose_ondisk_index)")
    build.add_argument("--workers", type=int, default=1)
    build.add_argument("--executor", default="thread", choices=("thread", "process", "ray"))
    build.add_argument("--chunk-rows", type=int, default=100_000)
    build.add_argument("--queries", type=int, default=200)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--keep", action="store_true", help="keep the data and the index")
    build.set_defaults(func=cmd_build)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
