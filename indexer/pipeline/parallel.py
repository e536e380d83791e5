"""An order-keeping parallel map with a bounded look-ahead, so fast workers never flood memory."""
from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from .orphans import die_with_parent

T = TypeVar("T")
R = TypeVar("R")


def _run_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [fn(item) for item in chunk]


def _next(pending: deque[Future[list[R]]], on_wait: Callable[[], None] | None) -> list[R]:
    if on_wait is not None and not pending[0].done():
        on_wait()
    return pending.popleft().result()


def _warm_up(module: str) -> None:
    importlib.import_module(module)


def _worker_init(parent_pid: int) -> None:
    """Runs first in every worker: it dies with the process that started it (see `die_with_parent`)."""
    die_with_parent(parent_pid)


@contextmanager
def worker_pool(workers: int, warm_module: str | None = None) -> Iterator[ProcessPoolExecutor | None]:
    """Start `workers` spawned processes now (None for 0), importing `warm_module` in each, so their
    start-up overlaps whatever the caller does next (loading models, scanning).

    Spawned, not forked: this process may hold torch's threads. The workers are started without
    re-importing the caller's `__main__` (multiprocessing's default), which for a Streamlit app or a
    notebook-turned-script can mean importing torch again: seconds per run for nothing. The worker
    function must therefore live in an importable module, never in `__main__`.

    The workers die with this process, even on kill -9 (they would otherwise wait on their task queue
    forever, and keep multiprocessing's resource tracker alive with them: it exits once the last
    process holding its pipe is gone).
    """
    if workers <= 0:
        yield None
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(os.getpid(),)) as pool:
        with _main_module_hidden():
            for _ in range(workers):  # each submit to a pool with no idle worker starts one process
                pool.submit(_warm_up, warm_module or __name__)
        yield pool


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While processes start, make `__main__` look like an interactive session (no file, no spec)."""
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if hasattr(main, name)}
    try:
        if main is not None:
            main.__spec__ = None
            if "__file__" in saved:
                del main.__file__
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, pool: ProcessPoolExecutor | None, workers: int = 1,
                chunk_size: int = 8, max_pending_chunks: int | None = None,
                on_wait: Callable[[], None] | None = None) -> Iterator[R]:
    """Yield fn(item) for every item, in input order.

    pool None runs in this process (debugging, tiny jobs). Otherwise the pool's processes run chunks of
    `chunk_size` items while the caller consumes results; at most `max_pending_chunks` chunks (default
    4 per worker) are in flight or waiting, which bounds memory whatever the speed difference. `fn` must
    be a picklable top-level function. `on_wait` is called whenever the next result is not ready yet,
    before blocking on it, so the caller can use the time (e.g. embed a partial batch).
    """
    if pool is None:
        for item in items:
            yield fn(item)
        return
    limit = max_pending_chunks or 4 * max(1, workers)
    pending: deque[Future[list[R]]] = deque()
    chunk: list[T] = []
    try:
        for item in items:
            chunk.append(item)
            if len(chunk) == chunk_size:
                pending.append(pool.submit(_run_chunk, fn, chunk))
                chunk = []
                while len(pending) >= limit:
                    yield from _next(pending, on_wait)
        if chunk:
            pending.append(pool.submit(_run_chunk, fn, chunk))
        while pending:
            yield from _next(pending, on_wait)
    finally:
        for future in pending:
            future.cancel()
