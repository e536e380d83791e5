"""A workspace: one directory holding the catalog database, the FAISS index files and generated images."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from .catalog.db import make_engine, needs_upgrade, session_factory, upgrade
from .catalog.schema import Setting
from .filelock import LockBusy, file_lock

HOME_ENV = "STYLELENS_HOME"
DB_URL_ENV = "STYLELENS_DB_URL"
DEFAULT_HOME = Path("~/.stylelens")
MIGRATION_LOCK_FILE = ".workspace.lock"  # held while the catalog is created or its schema upgraded
MIGRATION_WAIT_SECONDS = 600


class WorkspaceError(RuntimeError):
    """The workspace cannot be opened or is used inconsistently."""


@dataclass
class Workspace:
    """Paths and database handles of one workspace. Open with `Workspace.open`."""

    home: Path
    db_url: str
    engine: Engine = field(repr=False)
    _sessions: sessionmaker[Session] = field(repr=False)

    @classmethod
    def open(cls, home: str | Path | None = None, db_url: str | None = None) -> "Workspace":
        """Open (creating if needed) the workspace at `home` / $STYLELENS_HOME / ~/.stylelens.

        The catalog lives in `home/catalog.sqlite` unless `db_url` / $STYLELENS_DB_URL names another
        SQLAlchemy URL (e.g. PostgreSQL). The schema is migrated to the newest revision on open.
        """
        home = Path(home or os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()
        if home.exists() and not home.is_dir():
            raise WorkspaceError(f"workspace path {home} exists and is not a directory")
        home.mkdir(parents=True, exist_ok=True)
        (home / "indexes").mkdir(exist_ok=True)
        db_url = db_url or os.environ.get(DB_URL_ENV) or f"sqlite:///{home / 'catalog.sqlite'}"
        engine = make_engine(db_url)
        try:
            _migrate(home, engine)
        except LockBusy:
            engine.dispose()
            raise WorkspaceError(f"another process has been creating or upgrading the catalog of {home} for "
                                 f"{MIGRATION_WAIT_SECONDS} s; wait for it to finish") from None
        except Exception as exc:  # noqa: BLE001 - any driver error: say which database failed
            engine.dispose()
            raise WorkspaceError(f"cannot open the catalog database at {safe_url(db_url)}: {exc}") from exc
        return cls(home=home, db_url=db_url, engine=engine, _sessions=session_factory(engine))

    @property
    def index_dir(self) -> Path:
        return self.home / "indexes"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions.begin() as session:
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


def _migrate(home: Path, engine: Engine) -> None:
    """Create or upgrade the schema under the workspace's file lock, so concurrent first uses take turns.

    A catalog already at the newest revision is not locked at all (nothing is written, e.g. on read-only
    media); one that is not is checked again under the lock, where the first process may have migrated it.
    """
    if needs_upgrade(engine):
        with file_lock(home / MIGRATION_LOCK_FILE, wait_seconds=MIGRATION_WAIT_SECONDS):
            upgrade(engine)


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<unparseable URL>"
