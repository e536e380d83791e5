"""One indexing run per workspace at a time. An OS file lock: a killed run releases it automatically."""
from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

from ..filelock import LockBusy, file_lock
from ..layout import WorkspaceLayout
from ..workspace import WorkspaceError


@contextmanager
def index_lock(workspace: WorkspaceLayout) -> Iterator[None]:
    """Hold the workspace's index lock (its snapshots and their temporaries are written only under it)."""
    path, home = workspace.index_lock_file, workspace.home
    with ExitStack() as stack:
        try:
            fd = stack.enter_context(file_lock(path))
        except LockBusy:
            raise WorkspaceError(f"another indexing run (pid {_holder(path)}) is using workspace {home}; "
                                 "wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield


def _holder(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[:32].strip() or "unknown"
    except OSError:
        return "unknown"
