"""Search filters (retrieval.filters) with exact ids: every filter, their combination, the CLI flags, the
date backfill, and exactly k results on an HNSW index with selective filters."""
from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest
from filter_workspace import build
from sqlalchemy import select

from indexer.catalog.schema import ImageRecord
from indexer.imaging.taken import file_taken_at
from indexer.vectors import faiss_index as vector_index
from retrieval.catalog_lookup import image_refs
from retrieval.filters import SearchFilter, allowed_ids, parse_date
from retrieval.index_cache import get_index
from retrieval.query import QueryError
from retrieval.search import joint_search, search


@pytest.fixture(scope="module")
def fw(tmp_path_factory):
    ws, ids = build(tmp_path_factory.mktemp("filters"))
    yield ws, ids
    ws.close()


def allowed(fw, **kw) -> set[int]:
    ws, ids = fw
    back = {v: k for k, v in ids.items()}
    return {back[i] for i in allowed_ids(ws, SearchFilter(**kw)).tolist()}


def test_each_filter_selects_exactly_its_images(fw) -> None:
    assert allowed(fw, corpora=("b",)) == set(range(20, 30))
    assert allowed(fw, path_glob="*/a/y/*") == set(range(10, 20))
    assert allowed(fw, path_glob="*/1?.png") == set(range(10, 20))
    assert allowed(fw, after=datetime(2020, 1, 3), before=datetime(2020, 1, 6)) == {2, 3, 4}  # EXIF dates
    assert allowed(fw, after=parse_date("2024-03-01"), before=parse_date("2024-03-02", end=True)) == {20, 21}  # mtimes
    assert allowed(fw, orientation="landscape") == {i for i in range(30) if i % 3 == 0}
    assert allowed(fw, orientation="portrait") == {i for i in range(30) if i % 3 == 1}
    assert allowed(fw, orientation="square") == {i for i in range(30) if i % 3 == 2}
    assert allowed(fw, min_width=70) == {i for i in range(30) if i % 3 == 0}
    assert allowed(fw, min_height=64) == {i for i in range(30) if i % 3 != 0}
    assert allowed(fw, collections=("fav",)) == {1, 2, 3}
    assert allowed(fw, tags=("red",)) == {2, 3, 25}
    assert allowed(fw, tags=("blue",)) == {25}
    assert allowed(fw, corpora=("a",), tags=("red",), orientation="square") == {2}


def test_filter_errors_name_the_problem(fw) -> None:
    ws, _ids = fw
    with pytest.raises(QueryError, match="no collection named 'nope'"):
        allowed_ids(ws, SearchFilter(collections=("nope",)))
    with pytest.raises(QueryError, match="orientation"):
        SearchFilter(orientation="round")
    with pytest.raises(QueryError, match="empty"):
        SearchFilter(after=datetime(2021, 1, 1), before=datetime(2020, 1, 1))
    with pytest.raises(QueryError, match="cannot read the date"):
        parse_date("yesterday")
    assert SearchFilter().is_empty() and allowed_ids(ws, SearchFilter()) is None


def test_search_returns_exactly_the_filtered_images_best_first(fw) -> None:
    ws, ids = fw
    flt = SearchFilter(path_glob="*/a/y/*", orientation="portrait")  # 10, 13, 16, 19
    hits = search(ws, f"id:{ids[13]}", k=10, collapse=False, filters=flt)
    assert {h.id for h in hits} == {ids[i] for i in (10, 13, 16, 19)}
    assert hits[0].id == ids[13] and hits[0].score == pytest.approx(1.0, abs=1e-4)
    page2 = search(ws, f"id:{ids[13]}", k=2, offset=2, collapse=False, filters=flt)
    assert [h.id for h in page2] == [h.id for h in hits[2:4]]
    joint = joint_search(ws, f"id:{ids[13]}", f"id:{ids[13]}", k=10, collapse=False, filters=flt)
    assert {h.id for h in joint} == {ids[i] for i in (10, 13, 16, 19)}


def test_selective_filters_on_hnsw_return_exactly_k(fw, monkeypatch) -> None:
    ws, ids = fw
    from indexer.spaces import get_space

    assert get_index(ws, get_space(ws, "content")).kind == "hnsw"
    flt = SearchFilter(corpora=("a",), orientation="landscape")  # 0, 3, 6, 9, 12, 15, 18
    expected = search(ws, f"id:{ids[0]}", k=5, collapse=False, filters=flt)
    for limit in (0, 16384):  # 0: no exact subset scan, the filtered HNSW walk (and its widening) must do it
        monkeypatch.setattr(vector_index, "EXACT_SUBSET_MAX", limit)
        hits = search(ws, f"id:{ids[0]}", k=5, collapse=False, filters=flt)
        assert [h.id for h in hits] == [h.id for h in expected] and len(hits) == 5
        assert {h.id for h in search(ws, f"id:{ids[0]}", k=7, filters=flt, collapse=False)} == {
            ids[i] for i in (0, 3, 6, 9, 12, 15, 18)}


def test_short_index_answers_fall_back_to_exact_ranking(fw, monkeypatch) -> None:
    """An ANN index that comes back short (here: one that finds nothing) still yields exactly k hits."""
    ws, ids = fw
    from indexer.vectors.faiss_index import VectorIndex

    real = VectorIndex.search

    def short(self, q, k, **kw):  # noqa: ANN001, ANN202
        scores, found = real(self, q, k, **kw)
        found[:, 1:] = -1
        return scores, found

    flt = SearchFilter(corpora=("b",))
    expected = [h.id for h in search(ws, f"id:{ids[20]}", k=6, collapse=False, filters=flt)]
    monkeypatch.setattr(VectorIndex, "search", short)
    assert [h.id for h in search(ws, f"id:{ids[20]}", k=6, collapse=False, filters=flt)] == expected


def test_dates_are_recorded_at_indexing_and_backfilled(fw, tmp_path) -> None:
    ws, ids = fw
    with ws.session() as s:
        rows = dict(s.execute(select(ImageRecord.id, ImageRecord.taken_at)).all())
        assert rows[ids[4]] == datetime(2020, 1, 5, 12, 0)
        assert rows[ids[21]] == datetime(2024, 3, 2)
    path = image_refs(ws, [ids[4]])[ids[4]].path  # absolute (the catalog keeps it relative to its root)
    assert file_taken_at(path, 0) == datetime(2020, 1, 5, 12, 0)  # the backfill reads EXIF from the file ...
    assert file_taken_at(str(tmp_path / "gone.jpg"), 1_700_000_000 * 10**9) == datetime(2023, 11, 14, 22, 13, 20)


def test_cli_filter_flags(fw, capsys) -> None:
    ws, ids = fw
    from ui.cli import main

    argv = ["search", f"id:{ids[13]}", "--workspace", str(ws.home), "--json", "--no-collapse", "-k", "20",
            "--path", "*/a/*", "--orientation", "portrait", "--before", "2023-06-04"]
    assert main(argv) == 0
    got = {h["id"] for h in json.loads(capsys.readouterr().out)}
    assert got == {ids[i] for i in (1, 4, 7, 10, 13)}
    assert main(argv[:-2] + ["--collection", "fav", "--tag", "red", "--orientation", "square"]) == 0
    assert {h["id"] for h in json.loads(capsys.readouterr().out)} == {ids[2]}


def test_migration_backfills_dates_of_an_existing_workspace(tmp_path) -> None:
    """A catalog from before 0004: upgrading fills taken_at from the files' mtime (no EXIF in these PNGs),
    and from the catalog's mtime_ns for a file that is gone."""
    import os

    from alembic import command
    from sqlalchemy import create_engine
    from tiny_workspace import build_workspace, write_images

    from indexer.catalog.db import alembic_config, upgrade

    images = write_images(tmp_path / "img", n=3)
    os.utime(images / "0.png", (1_600_000_000, 1_600_000_000))
    ids = build_workspace(tmp_path / "ws", images)
    url = f"sqlite:///{tmp_path / 'ws' / 'catalog.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
        conn.exec_driver_sql(f"UPDATE images SET mtime_ns = 1500000000000000000 WHERE id = {ids[1]}")
    (images / "1.png").unlink()
    upgrade(engine)
    with engine.connect() as conn:
        taken = dict(conn.execute(select(ImageRecord.id, ImageRecord.taken_at)).all())
    engine.dispose()
    assert taken[ids[0]] == datetime(2020, 9, 13, 12, 26, 40)
    assert taken[ids[1]] == datetime(2017, 7, 14, 2, 40)
    assert all(v is not None for v in taken.values())


def test_allow_lists_over_16384_ids_on_ivf_and_hnsw_return_exactly_k() -> None:
    """Above EXACT_SUBSET_MAX the index is asked with a selector; an IVF probe that visits one list (or an
    HNSW walk) finds too few allowed ids, and the short row is completed exactly: k hits, the true top k."""
    from indexer.vectors.faiss_index import EXACT_SUBSET_MAX, VectorIndex
    from indexer.vectors.selection import parse_override

    rng = np.random.default_rng(3)
    n, dim, k = 24_000, 16, 400
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, n + 1, dtype=np.int64)
    allow = ids[rng.permutation(n)[:EXACT_SUBSET_MAX + 1]]
    query = vectors[:1]
    exact = vectors[allow - 1] @ query[0]
    truth = allow[np.argsort(-exact, kind="stable")[:k]]
    for factory in ("IVF64,Flat", "HNSW8"):
        choice = parse_override(factory, dim, nprobe=1, ef_search=16)
        index = VectorIndex.build(dim, "ip", choice, ids, vectors)
        _scores, found = index.search(query, k, allow=allow)
        assert (found[0] >= 0).sum() == k and set(found[0].tolist()) == set(truth.tolist()), factory


def test_pages_short_after_folding_are_refilled(fw, monkeypatch) -> None:
    """When near-duplicate folding eats the candidates, search widens and joint search folds them all: k hits."""
    import retrieval.search as search_module
    from retrieval.duplicates import Folded

    def greedy(_ws, found, _threshold=None):  # noqa: ANN001, ANN202 - the first 20 are copies of the best
        head, rest = found[:20], found[20:]
        return [Folded(head[0][0], head[0][1], tuple(i for i, _ in head[1:]))] + [Folded(i, s) for i, s in rest]

    ws, ids = fw
    plain = [h.id for h in search(ws, f"id:{ids[4]}", k=30, collapse=False)]
    monkeypatch.setattr(search_module, "fold_duplicates", greedy)
    hits = search(ws, f"id:{ids[4]}", k=3)
    assert [h.id for h in hits] == [plain[0], plain[20], plain[21]] and len(hits[0].duplicates) == 19
    joint_plain = [h.id for h in joint_search(ws, f"id:{ids[4]}", f"id:{ids[4]}", k=30, collapse=False)]
    joint = joint_search(ws, f"id:{ids[4]}", f"id:{ids[4]}", k=3)
    assert [h.id for h in joint] == [joint_plain[0], joint_plain[20], joint_plain[21]]
