"""Errors become messages for the person (st.error), never tracebacks on the page.

Library errors (a bad query, a missing file, a refused export...) carry a message written for users;
anything unexpected is shown as its type and message, and its traceback goes to the server log.
Streamlit's own control flow (st.rerun, st.stop, page switches) is a BaseException and passes through.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import streamlit as st

from . import state

log = logging.getLogger("stylelens.studio")
F = TypeVar("F", bound=Callable[..., Any])


def _expected() -> tuple[type[BaseException], ...]:
    """Error types whose message is meant for users (imported lazily: some pull in the models' stack)."""
    from generation.base import StylizeError
    from indexer.encoders.base import EncoderError
    from indexer.imaging.decode import ImageRejected
    from indexer.vectors.faiss_index import IndexFileError
    from indexer.workspace import WorkspaceError
    from retrieval.export.items import ExportError
    from retrieval.query import QueryError

    return (WorkspaceError, QueryError, EncoderError, IndexFileError, ExportError, StylizeError, ImageRejected,
            ValueError, OSError)


def message(exc: BaseException) -> str:
    """What to tell the person about `exc`."""
    if isinstance(exc, _expected()):
        return getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    log.error("unexpected error in the studio", exc_info=exc)
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def shown_errors(doing: str = "") -> Iterator[None]:
    """Run the block; an error is shown with st.error (prefixed with what was being done) and swallowed."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - shown to the person; unexpected ones are logged with traceback
        st.error(f"{doing}: {message(exc)}" if doing else message(exc))


def reported(fn: F) -> F:
    """For widget callbacks: an error becomes a flash message shown at the top of the next page run."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown to the person on the next run
            state.flash("error", message(exc))
            return None

    return wrapper  # type: ignore[return-value]
