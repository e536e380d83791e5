"""`IndexFacts`: the read-only facts every index wrapper reports the same way, from its faiss index and choice."""
from __future__ import annotations

import faiss

from .selection import IndexChoice


class IndexFacts:
    """dim, ntotal, kind, factory, metric and choice of a wrapper holding `_index` (faiss) and `_choice`."""

    _index: faiss.Index
    _choice: IndexChoice

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def __len__(self) -> int:
        return self.ntotal

    @property
    def kind(self) -> str:
        return self._choice.kind

    @property
    def factory(self) -> str:
        return self._choice.factory

    @property
    def metric(self) -> str:
        return self._choice.metric

    @property
    def choice(self) -> IndexChoice:
        return self._choice

    @property
    def exact_scores(self) -> bool:
        """Whether `search` returns exact scores (PQ codes give approximate ones unless re-ranked)."""
        return self.kind != "ivfpq"
