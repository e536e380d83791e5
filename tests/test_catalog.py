"""The catalog schema: Alembic migrations produce exactly the ORM's tables; workspaces open cleanly."""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from indexer.catalog.schema import Base
from indexer.workspace import Workspace, WorkspaceError


def test_migrations_match_the_orm_schema(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    try:
        with ws.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            assert diffs == []
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        ws.close()


def test_reopening_keeps_settings_and_bad_homes_are_refused(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    ws.set_setting("profile", "tiny")
    ws.close()
    again = Workspace.open(tmp_path / "ws")
    assert again.get_setting("profile") == "tiny"
    again.close()
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError, match="not a directory"):
        Workspace.open(tmp_path / "file")
    with pytest.raises(WorkspaceError, match="cannot open the catalog") as err:
        Workspace.open(tmp_path / "ws2", db_url="postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    assert "secret" not in str(err.value)  # passwords never reach messages


def test_home_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STYLELENS_HOME", str(tmp_path / "from-env"))
    ws = Workspace.open()
    assert ws.home == (tmp_path / "from-env").resolve() and (ws.home / "catalog.sqlite").exists()
    ws.close()


def test_head_revision_read_from_the_files_is_alembics_head() -> None:
    """Opening a workspace compares the catalog's revision with `head_revision` without importing alembic; it
    must be the head alembic itself computes (a new migration with another layout would break this)."""
    from alembic.script import ScriptDirectory

    from indexer.catalog.db import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_a_search_by_id_opens_the_workspace_without_alembic(tmp_path) -> None:  # noqa: ANN001
    import subprocess
    import sys

    from indexer.workspace import Workspace

    Workspace.open(tmp_path / "ws").close()  # created and migrated here
    code = ("import sys; from indexer.workspace import Workspace; Workspace.open(sys.argv[1]).close(); "
            "assert 'alembic' not in sys.modules, 'alembic was imported'")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ws")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
