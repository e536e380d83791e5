"""The one place that moves a CPU index onto GPUs for searching (used only when faiss sees a GPU).

The CPU index stays the primary copy: it is what gets mutated and saved. The GPU copy is a read-only
search replica, dropped on every mutation and cloned again on the next search.
"""
from __future__ import annotations

import logging

import faiss

log = logging.getLogger(__name__)

GPU_KINDS = ("flat", "ivf", "ivfpq")  # faiss has no GPU HNSW; it stays on the CPU
GPU_MAX_K = 2048  # faiss GPU k-selection limit (also the nprobe limit)


def gpu_available() -> bool:
    """True when this faiss build sees at least one GPU (always False with faiss-cpu)."""
    get = getattr(faiss, "get_num_gpus", None)
    return bool(get and get() > 0)


def to_gpu(cpu_index: faiss.Index, kind: str, nprobe: int | None) -> faiss.Index | None:
    """A search replica of `cpu_index` on all GPUs, or None (no GPU, HNSW, or cloning failed)."""
    if kind not in GPU_KINDS or not gpu_available() or cpu_index.ntotal == 0:
        return None
    try:
        options = faiss.GpuMultipleClonerOptions()
        options.shard = False  # replicate: each GPU holds the whole index, queries are split
        # For IVF-PQ this means float16 lookup tables (needed for 48/64-byte codes in shared memory);
        # flat and IVF-Flat keep float32 vectors so GPU scores match the CPU index.
        options.useFloat16 = kind == "ivfpq"
        gpu_index = faiss.index_cpu_to_all_gpus(cpu_index, co=options)
        if nprobe is not None:
            faiss.GpuParameterSpace().set_index_parameter(gpu_index, "nprobe", min(nprobe, GPU_MAX_K))
        return gpu_index
    except (RuntimeError, AttributeError) as exc:  # e.g. unsupported PQ size, out of GPU memory
        log.warning("keeping %s index on CPU: GPU clone failed: %s", kind, exc)
        return None
