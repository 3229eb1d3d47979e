"""Run-time parallelism for numpy work that BLAS does not thread (depthwise taps, im2col copies, pools).

numpy releases the GIL inside large ufunc, einsum and copy loops, so a kernel that splits its output
into a few large independent parts and runs them on threads uses every core it was given. Each
executable owns one small pool (``threads - 1`` workers; the calling thread runs one part itself)
and makes it current for the duration of a run through a context variable, so kernels need no extra
argument and concurrent runs of one executable simply share the pool: parts never wait on other
parts, so sharing cannot deadlock.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

#: Without a ``threads`` option a run uses this many threads at most (beyond it, memory bandwidth,
#: not cores, bounds the split kernels).
DEFAULT_MAX_THREADS = 8


def default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, DEFAULT_MAX_THREADS))


class Workers:
    """A pool of ``threads - 1`` worker threads, started on first use."""

    def __init__(self, threads: int) -> None:
        self.threads = max(1, int(threads))
        self._pool: ThreadPoolExecutor | None = None

    def split(self, fn: Callable[[int, int], object], total: int, min_part: int = 1) -> None:
        """Call ``fn(start, stop)`` over ``range(total)`` cut into at most ``threads`` parts of at least
        ``min_part`` items; parts run concurrently and must write disjoint memory."""
        parts = max(1, min(self.threads, total // max(1, min_part)))
        if parts == 1:
            fn(0, total)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="mindinfer-cpu")
        bounds = [total * i // parts for i in range(parts + 1)]
        futures: list[Future[object]] = [self._pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(1, parts)]
        try:
            fn(bounds[0], bounds[1])
        finally:
            for f in futures:
                f.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


_SERIAL = Workers(1)
_current: contextvars.ContextVar[Workers] = contextvars.ContextVar("mindinfer_cpu_workers", default=_SERIAL)


@contextmanager
def using(workers: Workers) -> Iterator[None]:
    """Make ``workers`` the pool that kernels called in this context split their work over."""
    token = _current.set(workers)
    try:
        yield
    finally:
        _current.reset(token)


def split(fn: Callable[[int, int], object], total: int, min_part: int = 1) -> None:
    """:meth:`Workers.split` on the current run's pool (serial outside a run, e.g. constant folding)."""
    _current.get().split(fn, total, min_part)


__all__ = ["DEFAULT_MAX_THREADS", "Workers", "default_threads", "split", "using"]
