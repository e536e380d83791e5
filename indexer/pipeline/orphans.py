"""A child process that dies with its parent, however the parent ends (kill -9 included).

A pool worker blocks on its task queue; that queue's pipe has a write end in the worker itself, so a
worker whose parent was killed never sees end-of-file and waits forever. On Linux the kernel can send
the child a signal when its parent dies (`prctl(PR_SET_PDEATHSIG)`); elsewhere a daemon thread polls
for the parent's pid to change (the orphan is adopted by another process). Linux sends the signal when
the *thread* that started the child ends: `worker_pool` starts its workers from the calling thread, which
outlives the pool.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_SECONDS = 1.0


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when `parent_pid` (its parent) ends; exit now if it already has."""
    if not _parent_death_signal(signal.SIGKILL):
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def _parent_death_signal(sig: int) -> bool:
    """Ask Linux to send `sig` to this process when its parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os._exit(1)
