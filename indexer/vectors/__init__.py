"""FAISS index layer: one `VectorIndex` per embedding space, keyed by catalog image ids.

* `selection` — `choose_index` picks flat / HNSW / IVF / IVF-PQ from size, dim and a memory budget;
  `parse_override` validates a user-forced faiss factory string.
* `faiss_index` — `VectorIndex`: build, add / remove / upsert, filtered search, ids(), atomic save / load.
* `storage` — the checksummed file container and atomic write; `gpu` — the GPU search replica.
* On-disk indexes for large corpora: `vector_source` (chunked input), `sharded_build.build_ondisk` (train once,
  add shards in parallel, merge_ondisk), `ondisk.OnDiskIndex` (memory-mapped search with exact re-ranking),
  `ondisk_files` (folder layout, manifest checksums, crash leftovers); `selection.choose_ondisk_index`.
"""
from .faiss_index import VectorIndex
from .ondisk import OnDiskIndex
from .selection import (
    DEFAULT_MEMORY_BUDGET,
    IndexChoice,
    InvalidFactoryError,
    choose_index,
    choose_ondisk_index,
    parse_override,
)
from .sharded_build import OnDiskIndexInfo, build_ondisk
from .vector_source import VectorSource
from .storage import IndexFileError

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "IndexChoice",
    "IndexFileError",
    "InvalidFactoryError",
    "OnDiskIndex",
    "OnDiskIndexInfo",
    "VectorIndex",
    "VectorSource",
    "build_ondisk",
    "choose_index",
    "choose_ondisk_index",
    "parse_override",
]
