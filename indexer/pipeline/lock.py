"""One indexing run per workspace at a time. An OS file lock: a killed run releases it automatically."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..workspace import WorkspaceError


@contextmanager
def index_lock(home: Path) -> Iterator[None]:
    path = home / ".index.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise WorkspaceError(f"another indexing run (pid {holder}) is using workspace {home}; "
                                 "wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
