"""The run-time work splitter: every item covered exactly once, parts bounded, serial outside a run."""

from __future__ import annotations

import threading

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
