"""Catalog-wide checks that make every database behave alike, installed as SQLAlchemy events.

- `guard_string_lengths`: SQLite stores a 10,000-character corpus name in a VARCHAR(200) column, PostgreSQL
  refuses it mid-transaction with "value too long". Checking each flushed String value against its column's
  length refuses it the same way on both, with a `LimitError` naming the field, before the database sees it.
- `guard_read_only`: an engine of a read-only workspace refuses every writing statement with the caller's
  error (the workspace's "read-only" message) before it reaches the driver (SQLite's own refusal says only
  "attempt to write a readonly database"; other databases may not refuse at all).
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from ..limits import check_length, name_limit

LABELS = {"corpora.name": "the corpus name", "collections.name": "the collection name",
          "mining_runs.name": "the mining run name", "spaces.name": "the space name", "settings.key": "the setting key"}
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


def guard_string_lengths(sessions: sessionmaker[Session]) -> None:
    """Refuse, at flush, any String value longer than its column allows."""
    event.listen(sessions, "before_flush", _check_lengths)


def _check_lengths(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty):
        state = inspect(obj)
        for prop in state.mapper.column_attrs:
            column, value = prop.columns[0], state.dict.get(prop.key)  # loaded values only: no SQL here
            if isinstance(value, str) and name_limit(column) is not None:
                where = f"{column.table.name}.{column.name}"
                check_length(value, column, LABELS.get(where, where))


def guard_read_only(engine: Engine, error: Callable[[], Exception]) -> None:
    """Make `engine` refuse writing statements by raising `error()`."""

    @event.listens_for(engine, "before_cursor_execute")
    def _refuse_writes(_conn, _cursor, statement: str, _params, context, _many) -> None:  # noqa: ANN001
        if _is_write(statement, context):
            raise error()


def _is_write(statement: str, context: Any) -> bool:
    """An ORM/Core INSERT, UPDATE or DELETE, or a textual statement starting with a writing keyword."""
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        return True
    words = statement.split(None, 1)
    return bool(words) and words[0].upper() in _WRITES
