"""indexer.limits: the documented bounds, and the library entry points that apply them (queries, paths,
search paging, the catalog's column lengths on SQLite)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from indexer.catalog.schema import Collection, Corpus
from indexer.limits import (
    MAX_ID,
    MAX_K,
    MAX_QUERY_TERMS,
    MAX_SEED,
    LimitError,
    check_fraction,
    check_id,
    check_k,
    check_name,
    check_seed,
    name_limit,
)
from indexer.vectors.interpolation import path_positions
from indexer.workspace import Workspace
from retrieval.collections import create_collection
from retrieval.query import QueryTerm, parse_query


def test_documented_values() -> None:
    assert (MAX_K, MAX_QUERY_TERMS, MAX_ID, MAX_SEED) == (10_000, 64, 2**31 - 1, 2**63 - 1)
    assert name_limit(Corpus.name) == name_limit(Collection.name) == 200


@pytest.mark.parametrize("call", [
    lambda: check_k(0), lambda: check_k(MAX_K + 1), lambda: check_k(5_000_000_000), lambda: check_k(10, -1),
    lambda: check_k(10, MAX_K - 9), lambda: check_k(True), lambda: check_k(2.0),
    lambda: check_id(0), lambda: check_id(MAX_ID + 1), lambda: check_id(2**70), lambda: check_id("12"),
    lambda: check_seed(-1), lambda: check_seed(2**63), lambda: check_fraction(math.nan, "x", 0, 1),
    lambda: check_fraction(math.inf, "x", 0, 1), lambda: check_fraction(1.5, "x", 0, 1),
    lambda: check_name("", Corpus.name, "the corpus name"), lambda: check_name("x" * 201, Corpus.name, "the corpus name"),
])
def test_out_of_bounds_is_a_limit_error(call) -> None:  # noqa: ANN001
    with pytest.raises(LimitError):
        call()


def test_in_bounds_passes() -> None:
    check_k(1)
    check_k(10, MAX_K - 10)
    assert check_id(MAX_ID) == MAX_ID and check_seed(MAX_SEED) == MAX_SEED
    assert check_fraction(-1, "x", -1, 1) == -1.0
    assert check_name("x" * 200, Corpus.name, "the corpus name")


def test_huge_numbers_are_described_briefly() -> None:
    with pytest.raises(LimitError, match="got a 201-bit number$"):
        check_id(2**200)


def test_queries_are_bounded_where_they_are_built() -> None:
    with pytest.raises(LimitError, match=f"at most {MAX_QUERY_TERMS} terms, got 2,500"):
        parse_query(" + ".join(["a bird"] * 2500))
    assert len(parse_query(" + ".join(["a bird"] * MAX_QUERY_TERMS))) == MAX_QUERY_TERMS
    with pytest.raises(LimitError, match="at most 2,147,483,647"):
        QueryTerm("id", 2**31)
    with pytest.raises(LimitError):
        parse_query(f"id:{2**70} + a bird")


def test_interpolation_paths_are_bounded() -> None:
    assert len(path_positions(2, 256)) == 256
    with pytest.raises(LimitError, match="at most 256"):
        path_positions(2, 10**9)


def test_sqlite_keeps_the_schema_lengths_like_postgresql(tmp_path: Path) -> None:
    """SQLite ignores VARCHAR lengths; the catalog's flush check refuses what PostgreSQL would."""
    ws = Workspace.open(tmp_path / "ws")
    try:
        with pytest.raises(LimitError, match="the collection name is 201 characters long"):
            create_collection(ws, "x" * 201)
        with pytest.raises(LimitError, match="the setting key is 65 characters long"):
            ws.set_setting("k" * 65, "v")
        create_collection(ws, "x" * 200)
    finally:
        ws.close()
