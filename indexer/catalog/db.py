"""Engines, sessions and schema migrations for the catalog database."""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import URL, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from .guards import guard_string_lengths

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PG_MIGRATION_LOCK = int.from_bytes(b"SLcatalg", "big")  # advisory lock key (a bigint) of schema migrations


class DatabaseURLError(ValueError):
    """A catalog URL (--db-url / $STYLELENS_DB_URL) that cannot be used: malformed, an unknown database, or
    a database whose Python driver is not installed. The message says what to write instead."""


SUPPORTED = "sqlite:///PATH or postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DATABASE"


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a generous busy timeout.

    `read_only`: SQLite is opened with `mode=ro` (plus `immutable=1` when its folder cannot be written, so
    no -wal/-shm file is needed next to it); PostgreSQL sessions default to read-only transactions.
    A URL that cannot work raises `DatabaseURLError` before any connection is tried.
    """
    parsed = parse_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(parsed, read_only)
        return create_engine(parsed, pool_pre_ping=True, connect_args=_read_only_args(parsed) if read_only else {})
    except ImportError as exc:  # the dialect exists, its DBAPI module does not
        raise DatabaseURLError(
            f"the driver for {parsed.drivername!r} is not installed ({exc}); install it, or use {SUPPORTED} "
            "(psycopg is installed with StyleLens)") from None


def parse_url(url: str) -> URL:
    """`url` as a SQLAlchemy URL, or a `DatabaseURLError` that says how to write it."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("postgres", "postgres+psycopg", "postgres+psycopg2"):
        raise DatabaseURLError(f"{scheme}:// is not a SQLAlchemy URL scheme; write postgresql+psycopg:// "
                               f"instead (e.g. {SUPPORTED.split(' or ')[1]})")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(f"cannot read the catalog URL (--db-url / $STYLELENS_DB_URL); use {SUPPORTED}") \
            from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise DatabaseURLError(_unknown(parsed)) from None
    return parsed


def _unknown(url: URL) -> str:
    """Which part of a URL SQLAlchemy has no dialect for: the database, or only the driver."""
    backend = url.get_backend_name()
    try:
        url.set(drivername=backend).get_dialect()
    except NoSuchModuleError:
        return f"unknown database {backend!r} in the catalog URL; use {SUPPORTED}"
    return f"unknown driver {url.get_driver_name()!r} for {backend} in the catalog URL; use {SUPPORTED}"


def safe_url(url: str | URL) -> str:
    """The URL with its password hidden (for messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - anything unparseable
        return "<unparseable URL>"


def error_summary(exc: BaseException) -> str:
    """The driver's first line for a database error: no SQL text, parameters or links to docs."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _sqlite_engine(url: URL, read_only: bool) -> Engine:
    file_db = url.database not in (None, "", ":memory:") and not url.database.startswith("file:")
    if read_only and file_db:
        url = _read_only_sqlite_url(Path(url.database))
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
        cur = dbapi_conn.cursor()
        if not read_only:  # both write to the file; a read-only connection takes the file as it is
            _switch_to_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    return engine


def _switch_to_wal(cur: Any, wait_seconds: float = 60.0) -> None:
    """Put the catalog in WAL mode (persistent in the file: later connections find it set).

    Two processes opening a brand-new catalog at once both ask for the switch, which needs an exclusive
    lock; SQLite answers one of them "database is locked" at once, without its busy handler (a deadlock
    otherwise), so the switch is retried here until the other connection is done."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _read_only_sqlite_url(path: Path) -> URL:
    """`file:PATH?mode=ro` (SQLite URI), plus `immutable=1` when the folder is not writable and no
    un-checkpointed WAL is waiting: then SQLite needs no -shm/-wal file beside the catalog."""
    path = path.expanduser().resolve()
    wal = path.with_name(path.name + "-wal")
    query = {"mode": "ro", "uri": "true"}
    if not os.access(path.parent, os.W_OK) and not (wal.exists() and wal.stat().st_size > 0):
        query["immutable"] = "1"
    return URL.create("sqlite", database=f"file:{quote(str(path))}", query=query)


def _read_only_args(url: URL) -> dict[str, Any]:
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("psycopg", "psycopg2"):
        return {"options": "-c default_transaction_read_only=on"}
    return {}


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # alembic loads only when a schema may change: ~0.3 s a CLI call saves

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision of migrations/versions/, read from the files' `revision` / `down_revision` lines
    (the one no other revision names as its parent), without importing alembic."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revisions.update(re.findall(r"^revision = '([^']+)'", source, re.M))
        parents.update(re.findall(r"^down_revision = '([^']+)'", source, re.M))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the catalog migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    """The catalog's schema revision (alembic's version table), None for a new catalog; reads only."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def needs_upgrade(engine: Engine) -> bool:
    """Whether the schema is not at the newest revision (a new catalog included); reads only."""
    return current_revision(engine) != head_revision()


def upgrade(engine: Engine, home: str | Path | None = None) -> None:
    """Bring the schema to the newest revision (no-op when it is already there), in one transaction.

    Two processes creating one catalog at once must not both run the migrations ("table corpora already
    exists"). On PostgreSQL a transaction-level advisory lock serialises them, from any machine; the
    migrations run in that same transaction. SQLite has no such lock: callers hold the workspace's file
    lock (`Workspace.open` does). On SQLite the upgrade runs with foreign keys off (SQLite's own recipe for
    rebuilding a table: a rebuilt table must not cascade deletes into the tables that refer to it), in an
    explicit transaction (pysqlite opens none before DDL), checked with `foreign_key_check` before it
    commits. `home`: the workspace folder, for revisions that store paths relative to it.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: before BEGIN
            conn.commit()
        try:
            with conn.begin():
                if sqlite:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                elif conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
                if MigrationContext.configure(conn).get_current_revision() == head:
                    return
                cfg.attributes["connection"] = conn
                cfg.attributes["workspace_home"] = None if home is None else str(home)
                command.upgrade(cfg, "head")
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("the schema upgrade left rows that break a foreign key; nothing was changed")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


class SchemaError(RuntimeError):
    """A read-only catalog whose schema is not the one this code needs."""


def require_current_schema(engine: Engine) -> None:
    """What `upgrade` would do, for a catalog that must not be written: refuse unless it is at the newest
    revision already (a read-only catalog cannot be created or migrated)."""
    current = current_revision(engine)
    if current == head_revision():
        return
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(engine.url.render_as_string(hide_password=False)))
    head = script.get_current_head()
    if current is None:
        raise SchemaError("it holds no StyleLens catalog yet, and a read-only workspace cannot create one")
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaError(f"its schema revision {current} is newer than this StyleLens knows; upgrade StyleLens")
    raise SchemaError(f"its schema (revision {current}) is older than this StyleLens needs ({head}); open the "
                      "workspace once without --read-only, on writable storage, to migrate it")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions of the catalog; String values are checked against their column lengths on every database."""
    sessions = sessionmaker(engine, expire_on_commit=False)
    guard_string_lengths(sessions)
    return sessions
