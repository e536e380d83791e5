"""Atomic file writes: a temporary file in the target's folder, fsync, rename over the target, fsync the folder.

A reader (or a crash at any moment) sees the old file or the new one, never half of one. The temporary is
named `.<target name>.<random><suffix>` beside the target, so whoever owns the folder can recognise and
remove the leftovers of a writer that was killed (see `remove_stale_temporaries` for index snapshots).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_file(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """Yield a binary file to write `path`'s new content into; it replaces `path` only if the block ends
    without an error. Keeps the replaced file's permission bits (0644 for a new file, not mkstemp's 0600)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        _match_mode(fd, path)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, suffix: str = ".tmp") -> None:
    """Replace `path` with `data` atomically."""
    with atomic_file(path, suffix=suffix) as f:
        f.write(data)


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename in `directory` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _match_mode(fd: int, path: Path) -> None:
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    with contextlib.suppress(AttributeError, OSError):  # no fchmod on Windows
        os.fchmod(fd, mode)
