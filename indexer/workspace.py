"""A workspace: one directory holding the catalog database, the FAISS index files and generated images."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from .catalog.db import (SchemaError, error_summary, make_engine, needs_upgrade, require_current_schema, safe_url,
                         session_factory, upgrade)
from .catalog.guards import guard_read_only
from .catalog.schema import Setting
from .filelock import LockBusy, file_lock
from .layout import CATALOG_FILE, DEFAULT_HOME, HOME_ENV, WorkspaceLayout, resolve_home

__all__ = ["CATALOG_FILE", "DB_URL_ENV", "DEFAULT_HOME", "HOME_ENV", "Workspace", "WorkspaceError",
           "WorkspaceLayout", "read_only_message", "resolve_home"]

DB_URL_ENV = "STYLELENS_DB_URL"
MIGRATION_WAIT_SECONDS = 600


class WorkspaceError(RuntimeError):
    """The workspace cannot be opened or is used inconsistently."""


@dataclass
class Workspace(WorkspaceLayout):
    """Paths (see `WorkspaceLayout`) and database handles of one workspace. Open with `Workspace.open`."""

    db_url: str
    engine: Engine = field(repr=False)
    _sessions: sessionmaker[Session] = field(repr=False)
    read_only: bool = False

    @classmethod
    def open(cls, home: str | Path | None = None, db_url: str | None = None, *,
             read_only: bool = False) -> "Workspace":
        """Open (creating if needed) the workspace at `home` / $STYLELENS_HOME / ~/.stylelens.

        The catalog lives in `home/catalog.sqlite` unless `db_url` / $STYLELENS_DB_URL names another
        SQLAlchemy URL (e.g. PostgreSQL). The schema is migrated to the newest revision on open.
        With `read_only`, or when this process cannot write the folder (read-only media, permissions), see
        `open_read_only`: nothing is created, written or migrated.
        """
        home = resolve_home(home)
        if home.exists() and not home.is_dir():
            raise WorkspaceError(f"workspace path {home} exists and is not a directory")
        if read_only or (home.is_dir() and not _writable(home, db_url)):
            return cls.open_read_only(home, db_url)
        layout = WorkspaceLayout(home)
        layout.index_dir.mkdir(parents=True, exist_ok=True)
        db_url = db_url or os.environ.get(DB_URL_ENV) or f"sqlite:///{layout.catalog_file}"
        engine = make_engine(db_url)
        try:
            _migrate(layout, engine)
        except LockBusy:
            engine.dispose()
            raise WorkspaceError(f"another process has been creating or upgrading the catalog of {home} for "
                                 f"{MIGRATION_WAIT_SECONDS} s; wait for it to finish") from None
        except Exception as exc:  # noqa: BLE001 - any driver error: say which database failed
            engine.dispose()
            raise _cannot_open(db_url, exc) from exc
        return cls(home=home, db_url=db_url, engine=engine, _sessions=session_factory(engine))

    @classmethod
    def open_read_only(cls, home: Path, db_url: str | None = None) -> "Workspace":
        """Open an existing workspace for reading only: search, status and export to another folder work.

        Nothing is written into it: no folder is created, the schema is not migrated (a catalog older than
        this code is refused with what to do), SQLite is opened `mode=ro` (`immutable` on unwritable media,
        so no -wal/-shm files appear), and every writing statement is refused with a WorkspaceError."""
        layout = WorkspaceLayout(home)
        if not layout.index_dir.is_dir():
            raise WorkspaceError(f"no workspace at {home} (a read-only workspace must exist already)")
        db_url = db_url or os.environ.get(DB_URL_ENV) or f"sqlite:///{layout.catalog_file}"
        engine = make_engine(db_url, read_only=True)
        try:
            require_current_schema(engine)
        except SchemaError as exc:
            engine.dispose()
            raise WorkspaceError(f"cannot use the catalog at {safe_url(db_url)} read-only: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - any driver error: say which database failed
            engine.dispose()
            raise _cannot_open(db_url, exc) from exc
        guard_read_only(engine, lambda: WorkspaceError(read_only_message(home)))
        return cls(home=layout.home, db_url=db_url, engine=engine, _sessions=session_factory(engine), read_only=True)

    def require_writable(self, action: str) -> None:
        """Refuse `action` (e.g. "indexing") up front on a read-only workspace, before anything is written."""
        if self.read_only:
            raise WorkspaceError(f"{action} needs to write, but {read_only_message(self.home)}")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions.begin() as session:
            session.info["workspace"] = self  # where the vector store's shards are (indexer.vectors.store)
            yield session

    def get_setting(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(Setting, key)
            return row.value if row else None

    def set_setting(self, key: str, value: str) -> None:
        with self.session() as s:
            s.merge(Setting(key=key, value=value))

    def settings(self) -> dict[str, str]:
        with self.session() as s:
            return {row.key: row.value for row in s.scalars(select(Setting))}

    def close(self) -> None:
        self.engine.dispose()


def _migrate(layout: WorkspaceLayout, engine: Engine) -> None:
    """Create or upgrade the schema under the workspace's file lock, so concurrent first uses take turns.

    A catalog already at the newest revision is not locked at all (nothing is written, e.g. on read-only
    media); one that is not is checked again under the lock, where the first process may have migrated it.
    """
    if needs_upgrade(engine):
        with file_lock(layout.migration_lock_file, wait_seconds=MIGRATION_WAIT_SECONDS):
            upgrade(engine, layout.home)


def _cannot_open(db_url: str, exc: BaseException) -> WorkspaceError:
    return WorkspaceError(f"cannot open the catalog database at {safe_url(db_url)}: {error_summary(exc)}")


def read_only_message(home: Path) -> str:
    return (f"workspace {home} is read-only (--read-only, or a folder this process cannot write): it serves "
            "search, status and export to another folder; use a writable copy to change it")


def _writable(home: Path, db_url: str | None) -> bool:
    """Can this process write the workspace folder (and its SQLite catalog, when that is the database)?
    os.access answers for the real user, including EROFS on read-only media even for root."""
    catalog = WorkspaceLayout(home).catalog_file
    if not os.access(home, os.W_OK):
        return False
    uses_file = not (db_url or os.environ.get(DB_URL_ENV))
    return not (uses_file and catalog.exists() and not os.access(catalog, os.W_OK))
