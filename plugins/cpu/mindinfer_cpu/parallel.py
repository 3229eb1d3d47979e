"""Run-time parallelism: the one thread pool a run uses, for numpy loops and matrix products alike.

numpy releases the GIL inside large ufunc, einsum, copy and BLAS calls, so a kernel that splits its
output into a few large independent parts and runs them on threads uses every core it was given. Each
executable owns one small pool (``threads - 1`` workers; the calling thread runs one part itself)
and makes it current for the duration of a run through a context variable, so kernels need no extra
argument and concurrent runs of one executable simply share the pool: parts never wait on other
parts, so sharing cannot deadlock.

Matrix products go through :func:`matmul`, which splits rows over the same pool while the BLAS itself
runs on one thread (the executable sets that for the run). Letting OpenBLAS thread instead put two
pools on the cores: its workers spin for a while after each product and starve the next numpy loop's
workers, so 2 threads ran no faster than 1 on mobilenet_v2 (measured: 78 vs 82 ms at batch 8).
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

#: Without a ``threads`` option a run uses this many threads at most (beyond it, memory bandwidth,
#: not cores, bounds the split kernels).
DEFAULT_MAX_THREADS = 8


def _quiet(fn: Callable[[int, int], object], start: int, stop: int) -> object:
    """``fn(start, stop)`` in a worker thread, under the run's errstate (numpy's is per thread)."""
    with np.errstate(all="ignore"):
        return fn(start, stop)


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
        futures: list[Future[object]] = [
            self._pool.submit(_quiet, fn, bounds[i], bounds[i + 1]) for i in range(1, parts)
        ]
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


#: Multiply-adds a thread gets at least from :func:`matmul`; smaller products run whole on the caller.
MIN_PART_MACS = 1 << 21
#: Output elements of one row block of :func:`matmul`: the block stays in the L2 cache for ``post``.
BLOCK_ELEMENTS = 1 << 18
#: Rows of a block at least, so that a wide product (a transformer's MLP) is not cut into thin calls
#: that each repack the whole weight.
MIN_BLOCK_ROWS = 256
#: Columns a thread gets at least when :func:`matmul` splits a weight's columns.
COLUMN_SPLIT_MIN = 64

Post = Callable[[np.ndarray], object] | None


def matmul(a: np.ndarray, b: np.ndarray, post: Post = None, residual: np.ndarray | None = None) -> np.ndarray:
    """``post(a @ b + residual)`` (``post`` works in place), split over the current run's pool.

    ``residual`` (the result's shape) is added block by block while each block is in cache: the
    skip connection of a residual block, fused into the convolution before it.

    With a 2-D ``b`` (a weight) every leading dimension of ``a`` is a row and the rows are split, or,
    when there are few rows, the weight's columns; with a stack ``b`` matching ``a``'s leading
    dimensions (attention) the stack is split; anything else is numpy's plain matmul.
    """
    workers = _current.get()
    k, n = a.shape[-1], b.shape[-1]
    if b.ndim == 2 and (a.ndim == 2 or (a.ndim > 2 and a.flags.c_contiguous)):
        rows = a.reshape(-1, k)
        m = rows.shape[0]
        dst = np.empty(a.shape[:-1] + (n,), np.result_type(a.dtype, b.dtype))
        flat = dst.reshape(m, n)
        res = None if residual is None else residual.reshape(m, n)
        if workers.threads > 1 and m < MIN_BLOCK_ROWS * workers.threads and n >= COLUMN_SPLIT_MIN * workers.threads:
            # Few rows (a transformer at batch 1): each thread reads its own share of the weight
            # rather than all of it (those reads bound the product; measured on vit_b_32 at batch 1,
            # 2 threads: rows split 59 ms, columns split 44 ms).
            def part_cols(c0: int, c1: int) -> None:
                np.matmul(rows, b[:, c0:c1], out=flat[:, c0:c1])

            workers.split(part_cols, n, max(COLUMN_SPLIT_MIN, MIN_PART_MACS // max(1, m * k)))
            if res is not None:
                flat += res
            if post is not None:  # a per-column bias: applied whole (few rows: a small output)
                post(flat)
            return dst
        step = max(MIN_BLOCK_ROWS, BLOCK_ELEMENTS // max(1, n))

        def part_rows(r0: int, r1: int) -> None:
            for s in range(r0, r1, step):  # blocks small enough that ``post`` finds them in cache
                block = flat[s : min(r1, s + step)]
                np.matmul(rows[s : s + len(block)], b, out=block)
                if res is not None:
                    block += res[s : s + len(block)]
                if post is not None:
                    post(block)

        workers.split(part_rows, m, max(1, MIN_PART_MACS // max(1, k * n)))
        return dst
    ashape: tuple[int, ...] = tuple(a.shape)
    if workers.threads > 1 and len(ashape) >= 3 and ashape[:-2] == tuple(b.shape[:-2]) and residual is None:
        m_each = ashape[-2]
        a3, b3 = a.reshape((-1, m_each, k)), b.reshape((-1, k, n))
        dst = np.empty(ashape[:-1] + (n,), np.result_type(a.dtype, b.dtype))
        d3 = dst.reshape((-1, m_each, n))

        def part_stack(i0: int, i1: int) -> None:
            np.matmul(a3[i0:i1], b3[i0:i1], out=d3[i0:i1])
            if post is not None:
                post(d3[i0:i1])

        workers.split(part_stack, len(a3), max(1, MIN_PART_MACS // max(1, m_each * k * n)))
        return dst
    out = np.matmul(a, b)
    if residual is not None:
        out += residual
    if post is not None:
        post(out)
    return out


__all__ = ["DEFAULT_MAX_THREADS", "MIN_PART_MACS", "Workers", "default_threads", "matmul", "split", "using"]
