"""Documented bounds on user input, in one place: the CLI, the Studio and the library check the same numbers.

Why bounds at all: a request for 10^8 results allocates gigabytes before FAISS answers, a 2,500-term query
embeds 2,500 texts, and a number past what the catalog's columns hold fails deep inside the database driver
(SQLite: OverflowError past int64; PostgreSQL: "integer out of range" past int32, "value too long" past a
VARCHAR length, which SQLite does not enforce at all). Checking at the library's entry points turns each of
those into one clear `LimitError` (a ValueError) before anything is read, written or allocated.

    MAX_K              10,000   results of one search, counting the ones skipped by an offset
    MAX_QUERY_TERMS        64   weighted +/- terms in one query
    MAX_ID      2,147,483,647   catalog ids (image, record): INTEGER columns, 32-bit on PostgreSQL
    MAX_SEED    2**63 - 1       seeds: BIGINT in generation records
    MAX_PATH_STEPS        256   points on an interpolation / refine path
    MAX_WORKERS           256   decoding processes of an indexing run
    MAX_BATCH_SIZE      4,096   images embedded per batch
    names                       the catalog's column lengths (`name_limit`), e.g. 200 for corpora and collections
"""
from __future__ import annotations

import math
from typing import Any, Iterable

MAX_K = 10_000
MAX_QUERY_TERMS = 64
MAX_ID = 2**31 - 1
MAX_SEED = 2**63 - 1
MAX_PATH_STEPS = 256
MAX_WORKERS = 256
MAX_BATCH_SIZE = 4096


class LimitError(ValueError):
    """An input is outside its documented bounds (see the module docstring)."""


def check_int(value: Any, what: str, low: int, high: int) -> int:
    """`value` as an int within [low, high]; bools and non-integers are refused too."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LimitError(f"{what} must be a whole number, got {value!r}")
    if value < low:
        raise LimitError(f"{what} must be at least {low:,}, got {_short(value)}")
    if value > high:
        raise LimitError(f"{what} must be at most {high:,}, got {_short(value)}")
    return value


def check_k(k: int, offset: int = 0) -> None:
    """1 <= k and 0 <= offset, with offset + k <= MAX_K (pages further out are refused, not allocated)."""
    check_int(k, "k", 1, MAX_K)
    check_int(offset, "the offset", 0, MAX_K - 1)
    if offset + k > MAX_K:
        raise LimitError(f"offset + k must be at most {MAX_K:,} results, got {offset:,} + {k:,}; "
                         "narrow the search (e.g. --corpus) instead of paging that far")


def check_query_terms(count: int) -> None:
    if count > MAX_QUERY_TERMS:
        raise LimitError(f"a query has at most {MAX_QUERY_TERMS} terms, got {count:,}; combine fewer images and "
                         "texts (or search several times)")


def check_id(value: Any, what: str = "catalog id") -> int:
    """A catalog id: a whole number the catalog's INTEGER id columns can hold (1..MAX_ID on every database)."""
    return check_int(value, what, 1, MAX_ID)


def check_ids(values: Iterable[Any], what: str = "catalog id") -> list[int]:
    return [check_id(v, what) for v in values]


def check_seed(value: Any) -> int:
    return check_int(value, "the seed", 0, MAX_SEED)


def check_job(workers: int | None, batch_size: int) -> None:
    """Decoding processes (None = the default) and batch size of an indexing or backfill run."""
    if workers is not None:
        check_int(workers, "the number of --workers", 0, MAX_WORKERS)
    check_int(batch_size, "the batch size", 1, MAX_BATCH_SIZE)


def check_fraction(value: Any, what: str, low: float, high: float) -> float:
    """A finite number within [low, high] (NaN and infinities are refused: they compare False to everything)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LimitError(f"{what} must be a finite number between {low:g} and {high:g}, got {value!r}")
    if not low <= value <= high:
        raise LimitError(f"{what} must be between {low:g} and {high:g}, got {value:g}")
    return float(value)


def name_limit(column: Any) -> int | None:
    """The length a catalog String column allows (None for Text), e.g. `name_limit(Corpus.name)`."""
    return getattr(getattr(column, "type", None), "length", None)


def check_name(value: str, column: Any, what: str) -> str:
    """A non-empty name that fits `column` on every database (SQLite would store any length; PostgreSQL not)."""
    if not isinstance(value, str) or not value.strip():
        raise LimitError(f"{what} must not be empty")
    check_length(value, column, what)
    return value


def check_length(value: str, column: Any, what: str) -> None:
    limit = name_limit(column)
    if limit is not None and len(value) > limit:
        raise LimitError(f"{what} is {len(value):,} characters long; the catalog keeps at most {limit} "
                         f"(given: {value[:40]!r}...)")


def _short(value: int) -> str:
    text = f"{value:,}"
    return text if len(text) <= 40 else f"a {value.bit_length()}-bit number"
