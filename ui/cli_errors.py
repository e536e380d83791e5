"""Every failed `stylelens` command ends the same way: exit status 1 and ONE line on stderr,
`stylelens: error: <what went wrong>; <what to do>`. With -v the traceback is printed first.

- The library's own errors (ValueError and its kin: QueryError, StylizeError, LimitError, ...; WorkspaceError,
  EncoderError, IndexFileError, ExportError) already say what to do: their message is the line.
- Environmental failures get a line by kind, with a hint: OSError by errno (disk full, permission denied,
  read-only file system, ...), catalog database errors (disk full, read-only, locked, server gone, value
  out of range), MemoryError, OverflowError, a missing optional package.
- Anything else is an unanticipated case, most likely a bug. It is not swallowed: its type and message are
  printed, with "re-run with -v for the traceback", and the status is 1 like every failure, so scripts see one
  rule. Printing the whole traceback by default would bury the one line users act on.
"""
from __future__ import annotations

import errno
import sys
import traceback
from typing import TextIO

EXIT_ERROR = 1
VERBOSE_HINT = "re-run with -v for the traceback"

_OS_HINTS = {
    errno.ENOSPC: "free some space (or use a workspace / output folder on another disk) and re-run",
    errno.EDQUOT: "your disk quota is used up: free some space and re-run",
    errno.EACCES: "check the permissions of that file or folder; to only read a workspace, add --read-only",
    errno.EPERM: "check the permissions of that file or folder; to only read a workspace, add --read-only",
    errno.EROFS: "commands that write need writable storage; search, status and export read a workspace "
                 "on read-only media (--read-only)",
    errno.EIO: "the disk reported an input/output error: check it, then re-run",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) or use fewer --workers",
    errno.ENFILE: "too many open files on this machine: close some programs and re-run",
}

_DB_HINTS = (  # (lower-case text in the driver's message, what to do)
    ("database or disk is full", "the disk holding the catalog is full: free some space and re-run (this "
                                 "command's unfinished changes were rolled back)"),
    ("attempt to write a readonly database", "the catalog cannot be written here: use a writable workspace, or "
                                             "add --read-only to only read it"),
    ("read-only transaction", "the catalog was opened read-only (--read-only): use a writable workspace to "
                              "change it"),
    ("unable to open database file", "check that the workspace folder exists and is readable (and writable, "
                                     "unless you add --read-only)"),
    ("database is locked", "another process held the catalog longer than the wait allows: re-run when it has "
                           "finished"),
    ("disk i/o error", "the disk holding the catalog reported an I/O error: check it, then re-run"),
    ("out of range", "a number is past what the catalog stores: see the limits in `stylelens search --help`"),
    ("value too long", "a name is longer than the catalog keeps: use a shorter one"),
)
_CONNECTION_LOST = ("server closed the connection", "terminating connection", "connection refused",
                    "could not connect", "connection failed", "shutting down", "connection is closed",
                    "connection already closed", "consuming input failed", "no connection to the server",
                    "connection timed out", "the connection is lost", "ssl syscall error")


def report(exc: BaseException, *, verbose: bool = False, stream: TextIO | None = None) -> int:
    """Print the failure (traceback first with `verbose`) and return the exit status."""
    stream = stream or sys.stderr
    if verbose:
        traceback.print_exception(exc, file=stream)
    print(f"stylelens: error: {describe(exc, verbose=verbose)}", file=stream)
    return EXIT_ERROR


def describe(exc: BaseException, *, verbose: bool = False) -> str:
    """The one line (without the `stylelens: error: ` prefix) for `exc`."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    more = "" if verbose else f"; {VERBOSE_HINT}"
    if isinstance(exc, DBAPIError):
        return _database(exc, more)
    if isinstance(exc, _known()):
        worded = getattr(exc, "message", None)  # errors that word their fix per interface (WeightsMissingError)
        return _one_line(worded("cli") if callable(worded) else str(exc)) or type(exc).__name__
    if isinstance(exc, OSError):
        return _os_error(exc)
    if isinstance(exc, MemoryError):
        return (f"out of memory{_detail(exc)}: ask for fewer results (-k), a smaller --batch-size or fewer "
                "--workers")
    if isinstance(exc, OverflowError):
        return f"a number is too large{_detail(exc)}: see the limits in `stylelens search --help`"
    if isinstance(exc, ImportError):
        return f"a package this command needs is missing{_detail(exc)}: install it (see the README), then re-run"
    if isinstance(exc, SQLAlchemyError):  # e.g. a StatementError: its first line, never the SQL or parameters
        return f"the catalog database failed ({_first_line(exc)}){more}"
    return f"unexpected {type(exc).__name__}{_detail(exc)} (probably a bug in StyleLens: please report it){more}"


def _known() -> tuple[type[BaseException], ...]:
    """The library's error classes: each message already says what to do."""
    from indexer.encoders.base import EncoderError
    from indexer.vectors.storage import IndexFileError
    from indexer.workspace import WorkspaceError
    from retrieval.export.items import ExportError

    return (ValueError, WorkspaceError, EncoderError, IndexFileError, ExportError)


def _os_error(exc: OSError) -> str:
    what = exc.strerror or str(exc) or type(exc).__name__
    where = f": {exc.filename}" if exc.filename else ""
    hint = _OS_HINTS.get(exc.errno or 0)
    return _one_line(f"{what}{where}" + (f"; {hint}" if hint else ""))


def _database(exc: BaseException, more: str) -> str:
    """A driver error: its first line (never the SQL or its parameters), with what to do."""
    first = _first_line(getattr(exc, "orig", None) or exc)
    text = first.lower()
    if getattr(exc, "connection_invalidated", False) or any(s in text for s in _CONNECTION_LOST):
        return (f"lost the connection to the catalog database ({first}); check that the database server is "
                "running and reachable, then re-run (the interrupted transaction was rolled back)")
    for needle, hint in _DB_HINTS:
        if needle in text:
            return f"the catalog database refused the command ({first}); {hint}"
    return f"the catalog database failed ({first}){more}"


def _detail(exc: BaseException) -> str:
    text = _one_line(str(exc))
    return f" ({text})" if text else ""


def _first_line(exc: object) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
