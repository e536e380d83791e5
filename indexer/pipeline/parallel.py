"""An order-keeping parallel map with a bounded look-ahead, so fast workers never flood memory."""
from __future__ import annotations

import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _run_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [fn(item) for item in chunk]


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int, chunk_size: int = 8,
                max_pending_chunks: int | None = None) -> Iterator[R]:
    """Yield fn(item) for every item, in input order.

    workers == 0 runs in this process (debugging, tiny jobs). Otherwise `workers` spawned processes run
    chunks of `chunk_size` items while the caller consumes results; at most `max_pending_chunks` chunks
    are in flight or waiting, which bounds memory whatever the speed difference. `fn` must be a picklable
    top-level function.
    """
    if workers <= 0:
        for item in items:
            yield fn(item)
        return
    limit = max_pending_chunks or 4 * workers
    ctx = multiprocessing.get_context("spawn")  # never fork a process that holds torch threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: deque[Future[list[R]]] = deque()
        chunk: list[T] = []
        try:
            for item in items:
                chunk.append(item)
                if len(chunk) == chunk_size:
                    pending.append(pool.submit(_run_chunk, fn, chunk))
                    chunk = []
                    while len(pending) >= limit:
                        yield from pending.popleft().result()
            if chunk:
                pending.append(pool.submit(_run_chunk, fn, chunk))
            while pending:
                yield from pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
