"""Migration 0006: a workspace made by the code before it (tests/data/workspace_0005: six real images, a
duplicate and a broken file indexed with the tiny profile at revision 0005, vectors as catalog blobs) moves
every vector bit for bit into shards, on SQLite and PostgreSQL; it indexes and searches afterwards; a failure
mid-way changes nothing; downgrade puts the same blobs back."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import assert_consistent
from pg_server import throwaway_server

from indexer.catalog.db import alembic_config, make_engine, upgrade
from indexer.catalog.schema import Base
from indexer.spaces import list_spaces
from indexer.vectors import store
from indexer.workspace import Workspace
from retrieval.search import search

FIXTURE = Path(__file__).parent / "data" / "workspace_0005"
OLD = "0005"
TABLES = ["settings", "corpora", "corpus_roots", "images", "spaces", "embeddings", "index_log", "index_snapshots"]


@pytest.fixture(scope="module")
def pg_server():
    with throwaway_server(port_offset=38) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def old_workspace(request, tmp_path: Path) -> tuple[Path, str]:
    """A copy of the 0005 workspace; on PostgreSQL its catalog rows copied into a database at revision 0005."""
    home = tmp_path / "ws"
    shutil.copytree(FIXTURE, home)
    url = f"sqlite:///{home / 'catalog.sqlite'}"
    if request.param == "postgresql":
        url = _copy_to_postgres(url, request.getfixturevalue("pg_server").create_database(
            f"mig{abs(hash(request.node.name)) % 10**8}"))
        (home / "catalog.sqlite").unlink()
    return home, url


def _copy_to_postgres(sqlite_url: str, pg_url: str) -> str:
    source, target = sa.create_engine(sqlite_url), make_engine(pg_url)
    with target.begin() as conn:
        cfg = alembic_config(pg_url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, OLD)
        meta = sa.MetaData()
        meta.reflect(conn, only=TABLES)
        with source.connect() as src:
            for name in TABLES:
                rows = [dict(r._mapping) for r in src.execute(sa.text(f"SELECT * FROM {name}"))]
                if rows:
                    conn.execute(meta.tables[name].insert(), rows)
        for name in ("corpora", "corpus_roots", "images", "spaces", "index_snapshots"):
            conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), 1000)"))
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('index_log', 'seq'), 1000)"))
    source.dispose()
    target.dispose()
    return pg_url


def _blobs(url: str) -> dict[tuple[int, int], bytes]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        blobs = {(i, s): bytes(v) for i, s, v in conn.execute(sa.text("SELECT image_id, space_id, vector FROM embeddings"))}
    engine.dispose()
    return blobs


def _stored(ws: Workspace) -> dict[tuple[int, int], bytes]:
    out = {}
    for space in list_spaces(ws):
        with ws.session() as s:
            ids, vectors = store.read_vectors(ws, s, space, range(10_000))
        out.update({(int(i), space.id): v.tobytes() for i, v in zip(ids, vectors)})
    return out


def test_every_vector_moves_bit_for_bit_and_the_workspace_keeps_working(old_workspace, tmp_path: Path) -> None:
    home, url = old_workspace
    blobs = _blobs(url)
    assert len(blobs) == 18 and {len(b) for b in blobs.values()} == {64, 128, 140}  # 6 originals x 3 spaces
    ws = Workspace.open(home, db_url=url)  # migrates
    try:
        with ws.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert "vector" not in {c["name"] for c in sa.inspect(conn).get_columns("embeddings")}
        assert _stored(ws) == blobs
        with ws.session() as s:
            shards = s.execute(sa.text("SELECT file, rows, bytes FROM vector_shards")).all()
        assert len(shards) == 3 and all((home / "vectors" / f).stat().st_size == b for f, _r, b in shards)
        ids = assert_consistent(ws)  # the old snapshots still match the catalog
        target = sorted(ids)[2]
        assert search(ws, f"id:{target}", k=1)[0].id == target
        from indexer.pipeline.run import index_paths

        shutil.copy(home / "imgs" / "0.png", home / "imgs" / "0-again.png")  # a duplicate
        shutil.copy(home / "imgs" / "1.png", home / "imgs" / "1-new.png")
        Image.open(home / "imgs" / "1-new.png").transpose(Image.Transpose.ROTATE_90).save(home / "imgs" / "1-new.png")
        (home / "imgs" / "2-copy.png").unlink()  # image 3, whose duplicate 2.png (image 4) inherits its row
        result = index_paths(ws, [str(home / "imgs")], "old", workers=0, progress=False)
        assert (result.removed, result.added, result.duplicates) == (1, 1, 1)
        assert_consistent(ws)
        moved = _stored(ws)
        assert all(moved[(4, sp)] == blobs[(3, sp)] for sp in (1, 2, 3)) and (3, 1) not in moved
        with ws.session() as s:
            assert s.execute(sa.text("SELECT COUNT(*) FROM embeddings e JOIN embeddings o ON e.shard_id = o.shard_id "
                                     "AND e.row = o.row AND e.image_id < o.image_id")).scalar() == 0
    finally:
        ws.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes.update(connection=conn, workspace_home=str(home))
        command.downgrade(cfg, OLD)
    engine.dispose()
    left = _blobs(url)
    expected = {k: v for k, v in blobs.items() if k[0] != 3}
    expected.update({(4, sp): blobs[(3, sp)] for sp in (1, 2, 3)})
    assert {k: v for k, v in left.items() if k in expected} == expected and len(left) == len(expected) + 3


def test_a_failure_mid_migration_leaves_the_old_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "ws"
    shutil.copytree(FIXTURE, home)
    url = f"sqlite:///{home / 'catalog.sqlite'}"
    blobs = _blobs(url)
    migration = __import__("importlib").import_module("indexer.vectors.store")
    calls = {"n": 0}
    real = migration.write_shard

    def dies_on_the_second_space(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(migration, "write_shard", dies_on_the_second_space)
    engine = make_engine(url)
    with pytest.raises(KeyboardInterrupt):
        upgrade(engine, home)
    engine.dispose()
    monkeypatch.undo()
    engine = make_engine(url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == OLD
        assert "vector_shards" not in sa.inspect(conn).get_table_names()
    engine.dispose()
    assert _blobs(url) == blobs
    orphans = list((home / "vectors").rglob("*.npy"))
    assert len(orphans) == 1  # the first space's shard, named by no row
    ws = Workspace.open(home)
    try:
        assert _stored(ws) == blobs
        from indexer.index_sync import checkpoint
        from indexer.pipeline.lock import index_lock

        with index_lock(ws):
            for space in list_spaces(ws):
                checkpoint(ws, space)
        assert not any(p.exists() for p in orphans)
        with ws.session() as s:
            named = {home / "vectors" / f for f in s.scalars(sa.text("SELECT file FROM vector_shards"))}
        assert set((home / "vectors").rglob("*.npy")) == named and len(named) == 3
    finally:
        ws.close()
