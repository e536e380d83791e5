#!/usr/bin/env python
"""StyleLens index benchmarks.

Sections (run in order by `main`; `--ann-only` stops after the first):

* **ann** — `bench_ann`: for each corpus size, build an exact Flat index and the index `choose_index`
  picks (4 GiB budget), then measure build time, single-query latency p50/p95 (one query per call, as an
  interactive search does, after a warm-up), and recall@10 of the ANN index against exact Flat results.

Synthetic data — *not* uniform noise, which has no neighbourhood structure and makes every ANN index look
bad in a way real embeddings never do. Vectors are drawn from a Gaussian mixture on the unit sphere shaped
like real image embeddings (CLIP / CNN features):
  * a direction shared by all vectors (real embeddings are anisotropic: random pairs have cosine ~0.3);
  * a hierarchy: 64 topics around it, 64 sub-clusters per topic, Zipf-distributed sizes (a few big
    concepts, a long tail), so clusters form a continuum instead of isolated islands;
  * within-cluster variation with a power-law spectrum (std_i ~ i^-0.5, i.e. ~28 effective dimensions)
    in a random rotation, like the PCA spectrum of real embeddings; then L2 normalisation.
It is tuned to the neighbour statistics of real image collections (top-1 neighbour cosine ~0.9,
top-10 ~0.87, random pairs ~0.3), not to any index. Queries are fresh draws from the same mixture, so
they are not in the base set. `--hard` switches to a stress mixture (4,096 unrelated tight clusters,
steeper spectrum). Each run prints the data's neighbour cosines so the difficulty is visible.

Usage: python scripts/bench_index.py [--sizes 100k 1M] [--dim 512] [--queries 500] [--ann-only]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import faiss
import numpy as np
from tqdm import tqdm

from indexer.vectors import DEFAULT_MEMORY_BUDGET, VectorIndex, choose_index

CHUNK = 100_000
WARMUP = 20
K = 10


# ------------------------------------------------------------------------------------- synthetic data
@dataclass(frozen=True)
class MixtureParams:
    """Shape of the synthetic embedding distribution (see the module docstring)."""

    n_topics: int = 64  # coarse concepts around the shared direction
    n_sub: int = 64  # sub-clusters per topic
    topic_spread: float = 1.2  # topic centres: shared direction + N(0, spread^2 / d)
    sub_spread: float = 0.8  # sub-cluster centres: topic centre + N(0, spread^2 / d)
    spectrum: float = 0.5  # within-cluster std of the i-th axis ~ i^-spectrum (participation ratio ~28 at 512-d)
    sigma: float = 0.7  # within-cluster spread (total std)


DEFAULT_MIXTURE = MixtureParams()
# Stress case: 4,096 unrelated, tight clusters ("islands") with a steep spectrum. Harder than the
# real-embedding statistics we aim for: graph indexes lose the small islands, IVF needs more probes.
HARD_MIXTURE = MixtureParams(n_topics=4096, n_sub=1, topic_spread=1.0, sub_spread=0.0, spectrum=0.8, sigma=1.0)


@dataclass
class MixtureSpec:
    """A sampled mixture: centres, Zipf weights, per-axis noise scales and a random rotation."""

    centers: np.ndarray
    weights: np.ndarray
    scales: np.ndarray
    rotation: np.ndarray
    sigma: float


def make_mixture(dim: int, params: MixtureParams = DEFAULT_MIXTURE, seed: int = 0) -> MixtureSpec:
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal(dim)
    mean /= np.linalg.norm(mean)
    topics = mean + params.topic_spread * rng.standard_normal((params.n_topics, dim)) / np.sqrt(dim)
    centers = np.repeat(topics, params.n_sub, axis=0)
    centers += params.sub_spread * rng.standard_normal(centers.shape) / np.sqrt(dim)
    weights = rng.permutation(1.0 / np.arange(1, len(centers) + 1))  # Zipf sizes, random order
    scales = np.arange(1, dim + 1, dtype=np.float64) ** -params.spectrum
    scales /= np.sqrt((scales**2).sum())
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return MixtureSpec(centers.astype(np.float32), weights / weights.sum(), scales.astype(np.float32),
                       rotation.astype(np.float32), params.sigma)


def sample_mixture(spec: MixtureSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors drawn from `spec` (float32, C-contiguous)."""
    dim = spec.centers.shape[1]
    labels = rng.choice(len(spec.weights), size=n, p=spec.weights)
    noise = (rng.standard_normal((n, dim), dtype=np.float32) * spec.scales) @ spec.rotation
    x = np.ascontiguousarray(spec.centers[labels] + spec.sigma * noise, dtype=np.float32)
    faiss.normalize_L2(x)
    return x


def make_dataset(n: int, n_queries: int, dim: int, seed: int,
                 params: MixtureParams = DEFAULT_MIXTURE) -> tuple[np.ndarray, np.ndarray]:
    """(base (n, dim), queries (n_queries, dim)) from one mixture, independent draws."""
    spec = make_mixture(dim, params, seed=seed)
    base = np.empty((n, dim), dtype=np.float32)
    for start in tqdm(range(0, n, CHUNK), desc=f"generate {n:,} x {dim}", unit="chunk", leave=False):
        stop = min(n, start + CHUNK)
        base[start:stop] = sample_mixture(spec, stop - start, np.random.default_rng([seed, 1, start]))
    return base, sample_mixture(spec, n_queries, np.random.default_rng([seed, 2]))


# ------------------------------------------------------------------------------------- measurement
@dataclass
class AnnResult:
    """One index at one corpus size."""

    size: int
    dim: int
    label: str  # "flat" or "ann"
    kind: str
    factory: str
    params: str
    build_s: float
    p50_ms: float
    p95_ms: float
    recall_at_10: float
    n_timed: int


def build_timed(dim: int, choice, ids: np.ndarray, base: np.ndarray, seed: int, desc: str) -> tuple[VectorIndex, float]:
    """create (train) + add in chunks with a progress bar; returns (index, seconds)."""
    t0 = time.perf_counter()
    index = VectorIndex.create(dim, "ip", choice, base, seed=seed)
    for start in tqdm(range(0, len(base), CHUNK), desc=desc, unit="chunk", leave=False):
        index.add(ids[start:start + CHUNK], base[start:start + CHUNK])
    return index, time.perf_counter() - t0


def single_query_latency(index: VectorIndex, queries: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """Search one query per call; returns (latencies in ms, ids (Q, k)). Warms up first."""
    for row in queries[:WARMUP]:
        index.search(row[None, :], k)
    times = np.empty(len(queries))
    found = np.empty((len(queries), k), dtype=np.int64)
    for i, row in enumerate(tqdm(queries, desc=f"{index.kind} queries", unit="q", leave=False)):
        t0 = time.perf_counter()
        _, found[i] = index.search(row[None, :], k)
        times[i] = (time.perf_counter() - t0) * 1e3
    return times, found


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true top-k ids present in the returned top-k."""
    k = truth.shape[1]
    return float(np.mean([len(np.intersect1d(f, t)) / k for f, t in zip(found, truth)]))


def _params(index: VectorIndex) -> str:
    c = index.choice
    return ", ".join(f"{n}={v}" for n, v in (("nprobe", c.nprobe), ("efSearch", c.ef_search)) if v) or "-"


def bench_ann(
    sizes: tuple[int, ...] = (100_000, 1_000_000),
    dim: int = 512,
    n_queries: int = 500,
    flat_queries: int = 100,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
    seed: int = 0,
    mixture: MixtureParams = DEFAULT_MIXTURE,
    report: Callable[[str], None] = print,
) -> list[AnnResult]:
    """Flat vs chosen ANN index at each size; see the module docstring. Returns one row per index."""
    results: list[AnnResult] = []
    for n in sizes:
        base, queries = make_dataset(n, n_queries, dim, seed, mixture)
        ids = np.arange(n, dtype=np.int64)
        flat, flat_build = build_timed(dim, "Flat", ids, base, seed, f"flat add {n:,}")
        scores, truth = flat.search(queries, K)  # batched exact ground truth
        pairs = np.random.default_rng(seed).integers(0, n, (2, 2000))
        random_cos = float(np.mean(np.sum(base[pairs[0]] * base[pairs[1]], axis=1)))
        report(f"[{n:,} x {dim}] data: mean top-1 cos {scores[:, 0].mean():.3f}, top-10 cos "
               f"{scores[:, -1].mean():.3f}, random-pair cos {random_cos:.3f}")
        flat_ms, flat_found = single_query_latency(flat, queries[:flat_queries])
        # exact either way; single-query and batched kernels may order float near-ties differently
        flat_recall = recall_at_k(flat_found, truth[:flat_queries])
        results.append(AnnResult(n, dim, "flat", "flat", "Flat", "-", flat_build, *_pcts(flat_ms),
                                 flat_recall, len(flat_ms)))
        del flat

        choice = choose_index(n, dim, memory_budget_bytes)
        report(f"[{n:,} x {dim}] choose_index -> {choice.factory} ({choice.reason})")
        ann, ann_build = build_timed(dim, choice, ids, base, seed, f"{choice.kind} add {n:,}")
        ann_ms, found = single_query_latency(ann, queries)
        results.append(AnnResult(n, dim, "ann", ann.kind, ann.factory, _params(ann), ann_build,
                                 *_pcts(ann_ms), recall_at_k(found, truth), len(ann_ms)))
        report(format_ann_table(results[-2:]))
        del ann, base
    return results


def _pcts(ms: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def format_ann_table(results: list[AnnResult]) -> str:
    """Plain-text table plus the ANN-vs-flat latency ratio per size."""
    head = f"{'size':>10} {'dim':>4} {'index':<16} {'params':<12} {'build s':>8} {'p50 ms':>8} " \
           f"{'p95 ms':>8} {'recall@10':>9} {'queries':>7}"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.size:>10,} {r.dim:>4} {r.factory:<16} {r.params:<12} {r.build_s:>8.1f} "
                     f"{r.p50_ms:>8.3f} {r.p95_ms:>8.3f} {r.recall_at_10:>9.3f} {r.n_timed:>7}")
    for n in sorted({r.size for r in results}):
        flat = next(r for r in results if r.size == n and r.label == "flat")
        ann = next(r for r in results if r.size == n and r.label == "ann")
        lines.append(f"{n:>10,}: {ann.factory} p50 is {ann.p50_ms / flat.p50_ms:.3f}x flat p50 "
                     f"({flat.p50_ms / ann.p50_ms:.0f}x faster), recall@10 {ann.recall_at_10:.3f}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- command line
def _size(text: str) -> int:
    text = text.strip().lower().replace("_", "").replace(",", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if mult > 1 else text) * mult)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=_size, default=[100_000, 1_000_000],
                        help="corpus sizes, e.g. 100k 1M")
    parser.add_argument("--dim", type=int, default=512, help="vector dimension (CLIP ViT-B/32: 512)")
    parser.add_argument("--queries", type=int, default=500, help="queries per size (flat timing uses <=100)")
    parser.add_argument("--budget-gib", type=float, default=DEFAULT_MEMORY_BUDGET / (1 << 30),
                        help="memory budget handed to choose_index")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hard", action="store_true", help="use the stress mixture (isolated clusters)")
    parser.add_argument("--ann-only", action="store_true", help="run only the ANN section")
    parser.add_argument("--e2e-only", action="store_true", help="run only the end-to-end indexing section")
    parser.add_argument("--images", type=int, default=256, help="end-to-end: photos to index")
    parser.add_argument("--profile", default="starter", help="end-to-end: encoder profile")
    parser.add_argument("--workers", type=int, help="end-to-end: decoding processes (default cores - 1)")
    return parser


def run_ann_section(args: argparse.Namespace) -> None:
    mixture = HARD_MIXTURE if args.hard else DEFAULT_MIXTURE
    print(f"== ANN: faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {mixture} ==")
    results = bench_ann(tuple(args.sizes), args.dim, args.queries, min(100, args.queries),
                        int(args.budget_gib * (1 << 30)), args.seed, mixture)
    print("== ANN summary ==")
    print(format_ann_table(results))


def run_e2e_section(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_e2e import bench_end_to_end, print_end_to_end

    print_end_to_end(bench_end_to_end(args.images, args.profile, workers=args.workers))


# (name, runner): end-to-end first (it needs a quiet machine, before the ANN builds heat it up).
SECTIONS: list[tuple[str, Callable[[argparse.Namespace], None]]] = [
    ("e2e", run_e2e_section),
    ("ann", run_ann_section),
]


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    for name, run in SECTIONS:
        if (name == "ann" and args.e2e_only) or (name == "e2e" and args.ann_only):
            continue
        run(args)


if __name__ == "__main__":
    main()
