"""Migration 0005: a catalog of the previous schema (absolute image paths) becomes root + relative paths,
keeping ids, vectors and absolute paths, on SQLite and PostgreSQL; a failure mid-way changes nothing."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pg_server import throwaway_server

from indexer.catalog.db import alembic_config, make_engine, upgrade
from indexer.catalog.paths import RootMap
from indexer.catalog.schema import Base, CorpusRoot, ImageRecord
from indexer.workspace import Workspace

OLD = "0003"


def old_catalog(url: str, home: Path, outside: Path) -> dict[int, str]:
    """A catalog at revision 0003 with two corpora: one root inside the workspace home, two outside
    sharing relative names (and a nested root), plus an embedding. Returns {image id: absolute path}."""
    cfg = alembic_config(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, OLD)
        conn.execute(sa.text("INSERT INTO corpora (id, name, role, created_at) VALUES "
                             "(1, 'a', 'both', CURRENT_TIMESTAMP), (2, 'b', 'style', CURRENT_TIMESTAMP)"))
        roots = [(1, 1, str(home / "data" / "photos")), (2, 2, str(outside / "x")), (3, 2, str(outside / "y")),
                 (4, 2, str(outside / "y" / "deep"))]
        conn.execute(sa.text("INSERT INTO corpus_roots (id, corpus_id, path) VALUES (:i, :c, :p)"),
                     [dict(i=i, c=c, p=p) for i, c, p in roots])
        images = {10: (1, str(home / "data" / "photos" / "sub" / "1.png")), 11: (2, str(outside / "x" / "1.png")),
                  12: (2, str(outside / "y" / "1.png")), 13: (2, str(outside / "y" / "deep" / "2.png")),
                  14: (2, str(outside / "z" / "stray.png"))}
        conn.execute(sa.text("INSERT INTO images (id, corpus_id, path, bytes, mtime_ns, status, updated_at) "
                             "VALUES (:i, :c, :p, 1, 1, 'indexed', CURRENT_TIMESTAMP)"),
                     [dict(i=i, c=c, p=p) for i, (c, p) in images.items()])
        conn.execute(sa.text("INSERT INTO spaces (id, name, encoder_id, dim, metric, created_at) "
                             "VALUES (1, 'content', 'e', 2, 'ip', CURRENT_TIMESTAMP)"))
        conn.execute(sa.text("INSERT INTO embeddings (image_id, space_id, vector) VALUES (10, 1, :v)"),
                     {"v": b"12345678"})
        if conn.dialect.name == "postgresql":  # explicit ids above: move the sequences past them
            for table in ("corpora", "corpus_roots", "images", "spaces"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 100)"))
    engine.dispose()
    return {i: p for i, (_c, p) in images.items()}


def check_migrated(url: str, home: Path, expected: dict[int, str]) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine, home)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        with sa.orm.Session(engine) as s:
            roots = RootMap.load(s, home)
            got = {im.id: roots.of(im) for im in s.scalars(sa.select(ImageRecord))}
            stored = dict(s.execute(sa.select(ImageRecord.id, ImageRecord.path)).all())
            root_paths = set(s.scalars(sa.select(CorpusRoot.path)))
            assert s.execute(sa.text("SELECT image_id FROM embeddings")).scalars().all() == [10]
        assert got == expected
        assert stored == {10: "sub/1.png", 11: "1.png", 12: "1.png", 13: "2.png", 14: "stray.png"}
        assert "data/photos" in root_paths  # inside the workspace: relative to its home
        assert str(expected[14]).rsplit("/", 1)[0] in root_paths  # a stray file's folder became a root
    finally:
        engine.dispose()


def test_migrates_an_old_sqlite_catalog(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    url = f"sqlite:///{home / 'catalog.sqlite'}"
    expected = old_catalog(url, home, tmp_path / "elsewhere")
    check_migrated(url, home, expected)
    ws = Workspace.open(home)  # opens at head without migrating again
    ws.close()
    engine = sa.create_engine(url)  # as the alembic command line would: SQLite foreign keys off
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes.update(connection=conn, workspace_home=str(home))
        command.downgrade(cfg, OLD)
    with engine.connect() as conn:
        assert dict(conn.execute(sa.text("SELECT id, path FROM images")).all()) == expected
        assert conn.execute(sa.text("SELECT image_id FROM embeddings")).scalars().all() == [10]
    engine.dispose()


def test_failure_mid_migration_leaves_the_old_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    url = f"sqlite:///{home / 'catalog.sqlite'}"
    old_catalog(url, home, tmp_path / "elsewhere")
    module = __import__("importlib").import_module
    mig = module("indexer.catalog.paths")

    def boom(*_a: object) -> None:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(mig, "stored_root", boom)  # runs after the table rebuild, just before the end
    engine = make_engine(url)
    with pytest.raises(KeyboardInterrupt):
        upgrade(engine, home)
    engine.dispose()
    monkeypatch.undo()
    engine = make_engine(url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == OLD
        cols = {c["name"] for c in sa.inspect(conn).get_columns("images")}
        assert "root_id" not in cols and "relpath" not in cols
        assert conn.execute(sa.text("SELECT path FROM images WHERE id = 10")).scalar().startswith(str(home))
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
    check_migrated(url, home, old_catalog_paths(home, tmp_path / "elsewhere"))


def old_catalog_paths(home: Path, outside: Path) -> dict[int, str]:
    return {10: str(home / "data" / "photos" / "sub" / "1.png"), 11: str(outside / "x" / "1.png"),
            12: str(outside / "y" / "1.png"), 13: str(outside / "y" / "deep" / "2.png"),
            14: str(outside / "z" / "stray.png")}


def test_migrates_an_old_postgresql_catalog(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    with throwaway_server(port_offset=21) as server:
        expected = old_catalog(server.url, home, tmp_path / "elsewhere")
        check_migrated(server.url, home, expected)
