"""Errors become messages for the person (st.error), never tracebacks on the page.

Library errors (a bad query, a missing file, a refused export...) carry a message written for users;
anything unexpected is shown as its type and message, and its traceback goes to the server log.
Streamlit's own control flow (st.rerun, st.stop, page switches) is a BaseException and passes through.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

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
    from generation.weights import WeightsMissingError

    if isinstance(exc, WeightsMissingError):  # worded with this interface's fields, line breaks kept
        return exc.message("studio")
    if isinstance(exc, _expected()):
        return getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    log.error("unexpected error in the studio", exc_info=exc)
    return f"{type(exc).__name__}: {exc}"


def in_studio_words(text: str, fields: Mapping[str, str]) -> str:
    """`text` with the CLI's option names replaced by the Studio's (`fields`: {"--overwrite": "the
    “Replace ...” checkbox"}); longer names first, so `--out-dir` is never half replaced by `--out`."""
    for flag in sorted(fields, key=len, reverse=True):
        text = text.replace(flag, fields[flag])
    return text


@contextmanager
def shown_errors(doing: str = "", fields: Mapping[str, str] | None = None) -> Iterator[None]:
    """Run the block; an error is shown with st.error (prefixed with what was being done, line breaks kept,
    CLI option names given as `fields` replaced by the Studio's) and swallowed."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - shown to the person; unexpected ones are logged with traceback
        text = in_studio_words(message(exc), fields or {})
        state.show_message("error", f"{doing}: {text}" if doing else text)


def reported(fn: F) -> F:
    """For widget callbacks: an error becomes a message shown where the person clicked (the callback's
    `at` keyword, see `state.tell`), else at the top of the next page run."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown to the person on the next run
            state.tell(kwargs.get("at"), "error", message(exc))
            return None

    return wrapper  # type: ignore[return-value]
