"""Choose a FAISS index type from corpus size, dimension and a memory budget (autofaiss-style).

Decision, in order (cells = n_vectors * dim, the floats an exhaustive scan reads per query):

1. **flat** (exact) while cells <= FLAT_MAX_CELLS and the vectors fit the budget.
2. **hnsw** (HNSW32, or a smaller M the budget allows, never below 8) while n <= HNSW_MAX_VECTORS.
3. **ivf** (IVF-Flat, nlist ~ 4*sqrt(n)) when the raw vectors fit the budget.
4. **ivfpq** (OPQ + IVF-PQ) otherwise, with the largest PQ code size that fits.

Thresholds were measured on the 2-core AVX2 development machine (faiss-cpu 1.15.1), one query at a time:

* Exact flat search costs ~0.3 ms per million cells (512-d: 10k vectors 1.3 ms, 20k 3.2 ms, 50k 8 ms),
  and at the threshold FLAT_MAX_CELLS = 2**23 it measured 1.8 / 2.7 / 2.6 / 3.3 ms p50 for
  dim 16 / 32 / 64 / 100: exact results, inside the 5 ms target.
* HNSW32 inserts 9-13k vectors/s whatever the dim (512-d 100k: 11 s; 128-d 400k: 32 s). FAISS cannot
  delete from HNSW, so removal rebuilds the graph; HNSW_MAX_VECTORS = 2**18 bounds that rebuild to
  ~30 s. Beyond it IVF (native removal) takes over. efSearch 128: recall@10 0.984 at 100k x 512.
* IVF-Flat at 1M x 512, nlist 4096: train (160k sample) + add 1M in 74 s; nprobe = nlist/32 = 128 gives
  recall@10 0.999 at 3.0 ms p50 (0.985 at 4.4 ms on a harder stress mixture); nlist/64 was 0.91 there.
* IVF-PQ at 200k x 512 (nprobe 32): recall@10 0.44 with PQ64, 0.50 with OPQ64 (full-dim rotation) but
  0.47 with OPQ64_256 and 0.26 with OPQ32_128 vs 0.34 for plain PQ32: OPQ helps only without dimension
  reduction, so the rotation keeps all dims. PQ recall is low without re-ranking (see `reason`).

**On-disk indexes** (`choose_ondisk_index`, built by `sharded_build`, opened by `ondisk`): the inverted lists
live in a memory-mapped file, so RAM holds only the coarse quantizer, the PQ tables and the 8-byte-per-id
sidecar; the budget no longer decides Flat vs PQ. What does is the bytes a query reads (nprobe/nlist of the
lists; a cold query reads them from disk): IVF-Flat while that stays <= ONDISK_FLAT_MAX_QUERY_BYTES, else
IVF-PQ with the largest code <= 64 bytes that divides dim and exact re-ranking of k * REFINE_FACTOR candidates
by the stored vectors.
Training is bounded whatever N: at most ONDISK_TRAIN_MAX rows (ONDISK_TRAIN_PER_LIST per list), 10 k-means
iterations, no OPQ (a full-dim OPQ rotation at 1280-d trained > 19 min on 1M rows; re-ranking recovers more
recall than the rotation did). Measured here (512-d clustered, nlist 4096, 10 iterations): IVF k-means on
60k rows 14 s, 120k rows 27 s (linear in rows); IVF4096,PQ64 on 65k rows 23 s. Re-ranking, 1M x 512 clustered
(`bench_scale.py build`, top-10 cosines ~0.82-0.81: flat neighbourhoods, hard for PQ), 100 queries, nprobe 128:
recall@10 0.21 raw PQ64, 0.86 re-ranking k*10, 1.00 with k*30 (8 ms/query in a batch) or k*100; raising nprobe to
512 did not change recall: the candidate list, not the probe, was the limit.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import faiss

GiB = 1 << 30
DEFAULT_MEMORY_BUDGET = 4 * GiB

FLAT_MAX_CELLS = 1 << 23
HNSW_MAX_VECTORS = 1 << 18
HNSW_MAX_M = 32
HNSW_MIN_M = 8
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128  # recall@10 0.984, p50 0.42 ms at 100k x 512 (bench_index.py); 64 gave ~0.96
MIN_TRAIN_PER_LIST = 39  # faiss k-means warns below 39 training points per centroid
TRAIN_PER_LIST = 39  # sample used to train IVF: k-means cost grows linearly with it
MIN_NLIST = 16
MAX_NLIST = 1 << 16
HNSW_QUANTIZER_NLIST = 1 << 14  # from here the coarse quantizer itself is an HNSW graph
NPROBE_FRACTION = 32  # nprobe = nlist / 32 ...
MIN_NPROBE = 16  # ... but at least 16
PQ_SIZES = (64, 48, 32, 24, 16, 8)  # bytes per code; all are valid GPU IVF-PQ sizes
PQ_MIN_TRAIN = 256 * MIN_TRAIN_PER_LIST  # 8-bit PQ trains 256 centroids per sub-quantizer
ID_BYTES = 8 + 48  # int64 id in the inverted list + id -> (list, offset) hash-table direct map
IDMAP2_BYTES = 48  # id_map entry + reverse hash-map entry of IndexIDMap2

ONDISK_TRAIN_PER_LIST = 16  # k-means rows per list for on-disk builds (bounded training, see docstring)
ONDISK_TRAIN_MAX = 1 << 17  # never train on more rows than this, whatever N
ONDISK_MAX_NLIST = 1 << 13  # so ONDISK_TRAIN_MAX still gives 16 rows per list
ONDISK_FLAT_MAX_QUERY_BYTES = 16 << 20  # IVF-Flat while a query reads at most this much of the lists
REFINE_FACTOR = 30  # IVF-PQ re-ranks k * 30 candidates exactly (1M x 512 PQ64: recall@10 0.86 with 10, 1.0 with 30)

KINDS = ("flat", "hnsw", "ivf", "ivfpq")
METRICS = {"ip": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}


class InvalidFactoryError(ValueError):
    """A faiss index_factory string that faiss rejects or StyleLens cannot manage."""


@dataclass(frozen=True)
class IndexChoice:
    """What to build: a faiss factory string plus the search-time parameters that go with it."""

    factory: str
    kind: str  # flat | hnsw | ivf | ivfpq
    metric: str = "ip"
    nprobe: int | None = None  # IVF lists visited per query
    ef_search: int | None = None  # HNSW candidate-list size per query
    ef_construction: int | None = None  # HNSW build-time candidate-list size
    train_size: int = 0  # vectors sampled to train (0: no training needed)
    estimated_bytes: int = 0  # resident size of the filled index, training peaks excluded
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (stored in index files)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "IndexChoice":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def choose_index(
    n_vectors: int,
    dim: int,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
    metric: str = "ip",
) -> IndexChoice:
    """Pick the index for `n_vectors` vectors of `dim` floats within `memory_budget_bytes`."""
    _check_metric(metric)
    if n_vectors < 0 or dim <= 0 or memory_budget_bytes <= 0:
        raise ValueError("n_vectors must be >= 0, dim and memory_budget_bytes > 0")
    n, budget, cells = n_vectors, memory_budget_bytes, n_vectors * dim
    flat_bytes = n * (4 * dim + IDMAP2_BYTES)
    if cells <= FLAT_MAX_CELLS and flat_bytes <= budget:
        return IndexChoice(
            "Flat", "flat", metric, estimated_bytes=flat_bytes,
            reason=f"{n} x {dim} = {cells} cells <= {FLAT_MAX_CELLS}: exact search stays fast",
        )
    if n <= HNSW_MAX_VECTORS:
        m = _hnsw_m(n, dim, budget)
        if m is not None:
            return IndexChoice(
                f"HNSW{m}", "hnsw", metric, ef_search=HNSW_EF_SEARCH,
                ef_construction=HNSW_EF_CONSTRUCTION, estimated_bytes=hnsw_bytes(n, dim, m),
                reason=f"{cells} cells > {FLAT_MAX_CELLS}: graph search; M={m} fits {_gib(budget)}; "
                f"rebuild on removal stays affordable up to {HNSW_MAX_VECTORS} vectors",
            )
    nlist = ivf_nlist(n)
    if nlist is not None:
        ivf_bytes = n * (4 * dim + ID_BYTES) + nlist * dim * 4
        if ivf_bytes <= budget:
            return IndexChoice(
                f"IVF{nlist}{_quantizer_suffix(nlist)},Flat", "ivf", metric, nprobe=default_nprobe(nlist),
                train_size=min(n, nlist * TRAIN_PER_LIST), estimated_bytes=ivf_bytes,
                reason=f"{cells} cells: inverted lists (nlist={nlist} ~ 4*sqrt(n)), raw vectors fit "
                f"{_gib(budget)} ({_gib(ivf_bytes)})",
            )
        if n >= PQ_MIN_TRAIN:
            pq = _ivfpq_choice(n, dim, nlist, budget, metric)
            if pq is not None:
                return pq
    raise ValueError(
        f"no index type fits {n} vectors of dim {dim} in {_gib(budget)}; raise the memory budget "
        f"or force a compact factory string (e.g. 'IVF256,PQ8')"
    )


def choose_ondisk_index(n_vectors: int, dim: int, metric: str = "ip", *, refine: bool = True,
                        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> IndexChoice:
    """The on-disk IVF index for `n_vectors` x `dim` (see the module docstring, "On-disk indexes").

    `refine`: whether the caller can look stored vectors up for exact re-ranking; without it PQ's
    recall (~0.5 @10) is not acceptable and IVF-Flat is chosen whatever its size."""
    _check_metric(metric)
    nlist = ivf_nlist(n_vectors)
    if nlist is None:
        raise ValueError(f"{n_vectors} vectors are too few for an on-disk IVF index (need "
                         f"{MIN_NLIST * MIN_TRAIN_PER_LIST}); keep them in a VectorIndex")
    nlist = min(nlist, ONDISK_MAX_NLIST)
    nprobe = default_nprobe(nlist)
    train = min(n_vectors, nlist * ONDISK_TRAIN_PER_LIST, ONDISK_TRAIN_MAX)
    resident = nlist * dim * 4 + n_vectors * 8  # quantizer + ids sidecar (when contains() is used)
    if resident > memory_budget_bytes:
        raise ValueError(f"the quantizer and ids of {n_vectors} x {dim} need {_gib(resident)}, more than "
                         f"{_gib(memory_budget_bytes)}")
    flat_lists = n_vectors * (4 * dim + 8)
    query_bytes = flat_lists * nprobe // nlist
    suffix = _quantizer_suffix(nlist)
    if query_bytes <= ONDISK_FLAT_MAX_QUERY_BYTES or not refine:
        return IndexChoice(
            f"IVF{nlist}{suffix},Flat", "ivf", metric, nprobe=nprobe, train_size=train, estimated_bytes=resident,
            reason=f"on disk: {_gib(flat_lists)} of IVF-Flat lists, a query reads {query_bytes >> 20} MiB"
            + ("" if refine else " (no vector lookup for re-ranking, so no PQ)"),
            extra={"ondisk": True, "refine_factor": 0},
        )
    m = max(c for c in range(1, min(PQ_SIZES[0], dim // 2) + 1) if dim % c == 0)  # largest code <= 64 B dividing dim
    pq_lists, train = n_vectors * (m + 8), min(n_vectors, max(train, PQ_MIN_TRAIN))
    return IndexChoice(
        f"IVF{nlist}{suffix},PQ{m}x8", "ivfpq", metric, nprobe=nprobe, train_size=train,
        estimated_bytes=resident + 256 * dim * 4,
        reason=f"on disk: IVF-Flat lists would be {_gib(flat_lists)} ({query_bytes >> 20} MiB read per query); "
        f"PQ{m} lists are {_gib(pq_lists)}, re-ranked exactly over k * {REFINE_FACTOR} candidates",
        extra={"ondisk": True, "refine_factor": REFINE_FACTOR},
    )


def parse_override(factory: str, dim: int, metric: str = "ip", *, nprobe: int | None = None,
                   ef_search: int | None = None) -> IndexChoice:
    """Validate a user-forced faiss factory string with faiss itself and describe it as a choice."""
    _check_metric(metric)
    text = re.sub(r"^IDMap2?,", "", factory.strip().replace(" ", ""))  # VectorIndex adds IDMap itself
    if not text:
        raise InvalidFactoryError("empty index factory string")
    try:
        index = faiss.index_factory(dim, text, METRICS[metric])
    except (RuntimeError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
        raise InvalidFactoryError(
            f"invalid faiss index factory string {factory!r} for dim {dim}: {reason}. "
            f"Examples: 'Flat', 'HNSW32', 'IVF1024,Flat', 'OPQ32_128,IVF4096,PQ32x8'."
        ) from exc
    kind = classify(index)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None and nprobe is None:
        nprobe = default_nprobe(ivf.nlist)
    hnsw = find_hnsw(index)
    ef_construction = None
    if hnsw is not None:
        ef_construction = hnsw.hnsw.efConstruction
        ef_search = ef_search if ef_search is not None else max(HNSW_EF_SEARCH, hnsw.hnsw.efSearch)
    train = 0 if index.is_trained else (ivf.nlist * TRAIN_PER_LIST if ivf is not None else PQ_MIN_TRAIN)
    return IndexChoice(
        text, kind, metric, nprobe=nprobe if ivf is not None else None, ef_search=ef_search,
        ef_construction=ef_construction, train_size=train, reason=f"forced by user: {factory!r}",
    )


def classify(index: faiss.Index) -> str:
    """Kind of a (possibly wrapped) faiss index: flat | hnsw | ivf | ivfpq."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        return "ivf" if isinstance(faiss.downcast_index(ivf), faiss.IndexIVFFlat) else "ivfpq"
    return "hnsw" if find_hnsw(index) is not None else "flat"


def ivf_nlist(n: int) -> int | None:
    """~4*sqrt(n) rounded to a power of two, with >= MIN_TRAIN_PER_LIST points per list; None if too few."""
    if n < MIN_NLIST * MIN_TRAIN_PER_LIST:
        return None
    nlist = 2 ** round(math.log2(4 * math.sqrt(n)))
    while nlist > MIN_NLIST and nlist * MIN_TRAIN_PER_LIST > n:
        nlist //= 2
    return int(min(max(nlist, MIN_NLIST), MAX_NLIST))


def default_nprobe(nlist: int) -> int:
    """Lists visited per query: nlist/32 (recall@10 >= 0.95 in bench_index.py), at least 16."""
    return int(min(nlist, max(MIN_NPROBE, nlist // NPROBE_FRACTION)))


def hnsw_bytes(n: int, dim: int, m: int) -> int:
    """Vectors + level-0 links (2M int32) + upper-level links (~4 B) + levels/offsets + id maps."""
    return int(n * (4 * dim + 8 * m + 4 + 16 + IDMAP2_BYTES))


def _hnsw_m(n: int, dim: int, budget: int) -> int | None:
    """Largest M in HNSW_MAX_M..HNSW_MIN_M (32, 24, 16, 12, 8) whose graph fits the budget."""
    for m in (32, 24, 16, 12, 8):
        if HNSW_MIN_M <= m <= HNSW_MAX_M and hnsw_bytes(n, dim, m) <= budget:
            return m
    return None


def _ivfpq_choice(n: int, dim: int, nlist: int, budget: int, metric: str) -> IndexChoice | None:
    """Largest PQ code that fits; an OPQ rotation (no dimension reduction) balances the sub-spaces."""
    fixed = nlist * dim * 4 + dim * dim * 4 + 256 * dim * 4  # centroids, OPQ matrix, PQ codebooks
    for m in PQ_SIZES:
        if m > dim // 2:  # at least two dims per sub-quantizer
            continue
        total = fixed + n * (m + ID_BYTES)
        if total > budget:
            continue
        d_out = dim // m * m
        opq = f"OPQ{m}" if d_out == dim else f"OPQ{m}_{d_out}"
        return IndexChoice(
            f"{opq},IVF{nlist}{_quantizer_suffix(nlist)},PQ{m}x8", "ivfpq", metric,
            nprobe=default_nprobe(nlist), train_size=min(n, max(nlist * TRAIN_PER_LIST, PQ_MIN_TRAIN)),
            estimated_bytes=total,
            reason=f"raw vectors ({_gib(n * 4 * dim)}) exceed {_gib(budget)}: OPQ+IVF-PQ with "
            f"{m}-byte codes ({_gib(total)}); recall@10 is far below IVF-Flat (~0.5 measured at "
            f"64 bytes, 512-d): re-rank a larger candidate list with exact vectors",
        )
    return None


def _quantizer_suffix(nlist: int) -> str:
    return "_HNSW32" if nlist >= HNSW_QUANTIZER_NLIST else ""


def find_hnsw(index: faiss.Index) -> Any:
    """The IndexHNSW below IDMap / PreTransform wrappers, or None."""
    index = faiss.downcast_index(index)
    while isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2, faiss.IndexPreTransform)):
        index = faiss.downcast_index(index.index)
    return index if isinstance(index, faiss.IndexHNSW) else None


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, not {metric!r}")


def _gib(nbytes: float) -> str:
    return f"{nbytes / GiB:.2f} GiB"
