"""FAISS index layer: one `VectorIndex` per embedding space, keyed by catalog image ids.

* `selection` — `choose_index` picks flat / HNSW / IVF / IVF-PQ from size, dim and a memory budget;
  `parse_override` validates a user-forced faiss factory string.
* `faiss_index` — `VectorIndex`: build, add / remove / upsert, filtered search, ids(), atomic save / load.
* `storage` — the checksummed file container and atomic write; `gpu` — the GPU search replica.
"""
from .faiss_index import VectorIndex
from .selection import (
    DEFAULT_MEMORY_BUDGET,
    IndexChoice,
    InvalidFactoryError,
    choose_index,
    parse_override,
)
from .storage import IndexFileError

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "IndexChoice",
    "IndexFileError",
    "InvalidFactoryError",
    "VectorIndex",
    "choose_index",
    "parse_override",
]
