"""An exclusive OS file lock (`flock`): released by the kernel when its holder exits, even on kill -9."""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

POLL_SECONDS = 0.02


class LockBusy(Exception):
    """The lock is held by another process (and waiting was not asked for, or took too long)."""


@contextmanager
def file_lock(path: Path, *, wait_seconds: float = 0.0) -> Iterator[int]:
    """Hold an exclusive lock on `path` (a file, created if needed, or an existing folder, which leaves no
    lock file behind); yields its file descriptor.

    Waits up to `wait_seconds` for another holder to let go, then raises LockBusy.
    """
    fd = os.open(path, os.O_RDONLY) if Path(path).is_dir() else os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(str(path)) from None
                time.sleep(POLL_SECONDS)
        yield fd
    finally:
        os.close(fd)
