"""What every index wrapper (in memory, on disk, layered) does the same way: its read-only facts
(`IndexFacts`), a membership test over sorted ids, and the argument rules that open every `search`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import faiss
import numpy as np

from .selection import IndexChoice, classify
from .storage import IndexFileError


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


def sorted_member(query: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """Which of `query` are in `sorted_ids` (ascending; binary search, so a memory map is not read whole)."""
    if not len(sorted_ids):
        return np.zeros(len(query), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_ids, query), len(sorted_ids) - 1)
    return np.asarray(sorted_ids[pos] == query)


def pad_score(metric: str) -> float:
    """The score of a slot where nothing was found: the worst there is, -inf ("ip") / +inf ("l2")."""
    return -np.inf if metric == "ip" else np.inf


def empty_answer(n_queries: int, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """A search answer with nothing found yet: (scores, ids) of shape (n_queries, k), all padding (ids -1)."""
    return np.full((n_queries, k), pad_score(metric), dtype=np.float32), np.full((n_queries, k), -1, dtype=np.int64)


@dataclass
class SearchCall:
    """A `search` call's arguments under the one rule (allowed = allowed, present and not excluded), and its
    padded answer: ids -1 and scores -inf ("ip") / +inf ("l2") wherever nothing is found."""

    queries: np.ndarray
    k: int
    pad: float
    allowed: np.ndarray | None
    excluded: np.ndarray | None
    scores: np.ndarray
    labels: np.ndarray

    @property
    def nothing_to_find(self) -> bool:
        return not len(self.queries) or (self.allowed is not None and not len(self.allowed))

    def answer(self, dist: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fill the padded answer with (dist, found), which may be narrower than k."""
        width = found.shape[1]
        self.labels[:, :width] = found
        self.scores[:, :width] = dist
        self.scores[self.labels < 0] = self.pad
        return self.scores, self.labels


def search_call(index, queries: np.ndarray, k: int, exclude: Iterable[int] | np.ndarray | None,  # noqa: ANN001
                allow: Iterable[int] | np.ndarray | None) -> SearchCall:
    """Check and normalise a search's arguments for `index` (anything with dim, metric and contains)."""
    from .faiss_index import _as_ids, _as_vectors

    q = _as_vectors(queries, index.dim, name="queries")
    if k <= 0:
        raise ValueError(f"k must be positive, not {k}")
    allowed = None if allow is None else _as_ids(allow, unique=False)
    excluded = None if exclude is None else np.unique(_as_ids(exclude, unique=False))
    if allowed is not None:  # one rule: allowed, present, not excluded
        allowed = np.unique(allowed[index.contains(allowed)])
        if excluded is not None:
            allowed, excluded = np.setdiff1d(allowed, excluded, assume_unique=True), None
    scores, labels = empty_answer(len(q), k, index.metric)
    return SearchCall(q, k, pad_score(index.metric), allowed, excluded, scores, labels)


def described_choice(index: faiss.Index, description: dict, source: object, word: str) -> IndexChoice:
    """The choice a file's `word` (its header, its manifest) records, once the faiss index read from it is
    checked to be what it describes: (dim, ntotal, metric, kind). IndexFileError if incomplete or not."""
    try:
        choice = IndexChoice.from_dict(description["choice"])
        expected = (int(description["dim"]), int(description["ntotal"]), description["metric"],
                    description["kind"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFileError(f"{source} has an incomplete {word}: {exc}") from exc
    metric = "ip" if index.metric_type == faiss.METRIC_INNER_PRODUCT else "l2"
    actual = (int(index.d), int(index.ntotal), metric, classify(index))
    if actual != expected:
        raise IndexFileError(f"{source}: {word} says (dim, ntotal, metric, kind)={expected}, index is {actual}")
    return choice
