"""The same catalog on a real PostgreSQL server: indexing, re-indexing and search through SQLAlchemy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_consistent
from corpus_factory import pattern_image
from pg_server import throwaway_server

from indexer.pipeline.run import index_paths
from indexer.workspace import Workspace
from retrieval.search import search


@pytest.fixture(scope="module")
def pg_url():
    with throwaway_server() as server:
        yield server.url


def test_index_reindex_and_search_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.default_rng(5)
    for i in range(8):
        pattern_image((64, 64), tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4))).save(root / f"{i}.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    ws = Workspace.open(tmp_path / "ws", db_url=pg_url)
    try:
        first = index_paths(ws, [str(root)], "pg", profile="tiny", workers=0, progress=False)
        assert (first.added, first.failed) == (8, 1)
        (root / "0.png").unlink()
        second = index_paths(ws, [str(root)], "pg", workers=0, progress=False)
        assert (second.removed, second.unchanged, second.added) == (1, 8, 0)
        ids = assert_consistent(ws)
        assert len(ids) == 7
        target = sorted(ids)[3]
        hit = search(ws, f"id:{target}", k=1)[0]
        assert hit.id == target and hit.corpus == "pg"
    finally:
        ws.close()


def test_schema_and_generation_records_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from blend_stylizer import BLEND, register_blend

    from generation import create_stylizer
    from generation.inputs import resolve_content, resolve_style
    from generation.jobs import GenerationRequest, generate
    from generation.records import (
        differing_outputs,
        load_record,
        record_generation,
        regenerate,
    )
    from indexer.catalog.schema import Base

    pattern_image((48, 48)).save(tmp_path / "c.png")
    pattern_image((48, 48), ((9, 9, 9),) * 4).save(tmp_path / "s.png")
    ws = Workspace.open(tmp_path / "ws", db_url=pg_url)
    try:
        with ws.engine.connect() as conn:  # the migrations build exactly the ORM's schema on PostgreSQL too
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        stylizer = create_stylizer(register_blend())
        request = GenerationRequest(resolve_content(ws, str(tmp_path / "c.png")),
                                    [resolve_style(ws, f"{tmp_path / 's.png'}:0.5")], seed=2**40)
        first = record_generation(ws, request, generate(stylizer, request, tmp_path / "a"))
        child = record_generation(ws, request, generate(stylizer, request, tmp_path / "b"),
                                  parent=first)
        rec = load_record(ws, child)
        assert (rec.method, rec.seed, rec.parent_id) == (BLEND, 2**40, first)
        regenerate(ws, child, tmp_path / "c")
        assert differing_outputs(rec, tmp_path / "c") == []
    finally:
        ws.close()
