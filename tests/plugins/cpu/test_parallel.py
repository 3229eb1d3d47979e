"""The run-time work splitter: every item covered exactly once, parts bounded, serial outside a run."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from mindinfer_cpu import parallel


def _record(workers: parallel.Workers, total: int, min_part: int) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    lock = threading.Lock()

    def part(a: int, b: int) -> None:
        with lock:
            seen.append((a, b, threading.current_thread().name))

    with parallel.using(workers):
        parallel.split(part, total, min_part)
    return sorted(seen)


def test_split_covers_every_item_once_in_at_most_threads_parts() -> None:
    workers = parallel.Workers(3)
    try:
        parts = _record(workers, 10, 1)
        assert [(a, b) for a, b, _ in parts] == [(0, 3), (3, 6), (6, 10)]
        # The caller runs the first part itself; which worker runs the others is up to the pool.
        assert [name for *_, name in parts].count(threading.current_thread().name) == 1
    finally:
        workers.close()


def test_split_keeps_parts_at_least_min_part() -> None:
    workers = parallel.Workers(4)
    try:
        assert [(a, b) for a, b, _ in _record(workers, 10, 4)] == [(0, 5), (5, 10)]
        assert [(a, b) for a, b, _ in _record(workers, 3, 4)] == [(0, 3)]
    finally:
        workers.close()


def test_split_outside_a_run_is_serial() -> None:
    seen: list[tuple[int, int]] = []
    parallel.split(lambda a, b: seen.append((a, b)), 100, 1)
    assert seen == [(0, 100)]


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [
        ((3000, 40), (40, 96)),  # pointwise-conv sized: many row blocks, split over threads
        ((2, 700, 64), (64, 300)),  # leading dims flattened into rows
        ((8, 12, 50, 64), (8, 12, 64, 50)),  # attention: split over the stack
        ((50, 768), (768, 512)),  # few rows, wide weight: split over columns
        ((5, 7), (7, 3)),  # too small to split
        ((4, 9, 6), (6,)),  # 1-D right operand: numpy's own rules
    ],
)
def test_matmul_matches_numpy_with_the_epilogue_on_every_row(
    a_shape: tuple[int, ...], b_shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    calls: list[int] = []
    cols = np.matmul(a, b).shape[-1]
    bias = np.linspace(-1, 1, cols).astype(np.float32)  # per column, like a fused bias

    def post(y: np.ndarray) -> np.ndarray:
        calls.append(y.shape[0])
        y += bias
        return np.maximum(y, 0, out=y)

    workers = parallel.Workers(2)
    try:
        with parallel.using(workers):
            got = parallel.matmul(a, b, post)
    finally:
        workers.close()
    want = np.maximum(np.matmul(a.astype(np.float64), b.astype(np.float64)) + bias, 0)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert calls, "the epilogue must run"


def test_matmul_of_a_transposed_view_splits_rows_correctly() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 5000)).astype(np.float32).T  # (5000, 64), not contiguous
    b = rng.standard_normal((64, 80)).astype(np.float32)
    workers = parallel.Workers(2)
    try:
        with parallel.using(workers):
            got = parallel.matmul(a, b)
    finally:
        workers.close()
    np.testing.assert_allclose(got, a @ b, rtol=1e-5, atol=1e-4)
