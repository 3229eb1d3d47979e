"""What a second thread buys the cpu plugin, and what handing work to it costs (not a test).

    OPENBLAS_CORETYPE= .venv/bin/python benchmarks/bench_threads.py [--nets NET:BATCH ...]
        [--threads 1 2] [--loops 30]

First it measures the hand-off itself: the round trip of two Python threads waking each other
through locks, and one empty ``split`` on the plugin's pool (a part sent to a worker and waited
for). Then, for each zoo network and batch in ``$MINDINFER_ZOO_DIR`` (default
``~/.cache/mindinfer/zoo``, made by tools/make_zoo.py), it times one cpu session per thread count,
in turns within one process, and prints the median latency with the number of hand-offs one run
makes (kernels whose work was split over more than one thread).

A hand-off costs two thread wake-ups; when that is tens of microseconds (as in small virtual
machines) a split layer saves little more than it costs, and the mobile networks at batch 1 run
no faster on two threads than on one. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

NETS = ["mobilenet_v2_100:1", "shufflenet_v2_x1_0:1", "resnet18:1", "mobilenet_v2_100:8"]
ZOO = Path(os.environ.get("MINDINFER_ZOO_DIR", Path.home() / ".cache" / "mindinfer" / "zoo"))


def lock_round_trip_us(rounds: int = 5000) -> float:
    """Mean time for one thread to wake another through a lock and be woken back, in microseconds."""
    go, done = threading.Lock(), threading.Lock()
    go.acquire()
    done.acquire()

    def other() -> None:
        for _ in range(rounds):
            go.acquire()
            done.release()

    thread = threading.Thread(target=other)
    thread.start()
    start = time.perf_counter()
    for _ in range(rounds):
        go.release()
        done.acquire()
    elapsed = time.perf_counter() - start
    thread.join()
    return elapsed / rounds * 1e6


def empty_split_us(threads: int, rounds: int = 2000) -> float:
    """Median time of one ``split`` of no work over ``threads`` threads of the plugin's pool."""
    from mindinfer_cpu import parallel

    workers = parallel.Workers(threads)
    times = []
    try:
        for i in range(rounds + 100):
            start = time.perf_counter()
            workers.split(lambda a, b: None, threads)
            if i >= 100:
                times.append(time.perf_counter() - start)
    finally:
        workers.close()
    return statistics.median(times) * 1e6


class SplitCounter:
    """Counts the splits that really ran in more than one part (instrumentation for this script).

    It watches what ``Workers.split`` did (how many parts it called) rather than repeating how the
    pool decides to split, so the count stays right if that rule changes.
    """

    def __init__(self) -> None:
        from mindinfer_cpu import parallel

        self.count = 0
        orig = parallel.Workers.split

        def split(workers: Any, fn: Callable[[int, int], object], total: int, min_part: int = 1) -> None:
            parts = []

            def part(a: int, b: int) -> object:
                parts.append(a)  # list.append is atomic: parts may run on several threads
                return fn(a, b)

            orig(workers, part, total, min_part)
            if len(parts) > 1:
                self.count += 1

        parallel.Workers.split = split  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nets", nargs="+", default=NETS, help="NET:BATCH folders of the zoo")
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--loops", type=int, default=30)
    args = ap.parse_args()

    import mindinfer

    print(f"lock round trip between two Python threads: {lock_round_trip_us():.1f} us")
    for t in args.threads:
        if t > 1:
            print(f"empty split over {t} threads of the cpu plugin's pool: {empty_split_us(t):.1f} us")
    counter = SplitCounter()
    print()
    print(f"{'network':>24} {'batch':>5} " + " ".join(f"{f'{t} thr ms (splits)':>19}" for t in args.threads))
    for spec in args.nets:
        net, batch = spec.split(":")
        folder = ZOO / net / f"b{batch}"
        if not (folder / "model.mindir").is_file():
            print(f"{net:>24} {batch:>5}  skipped: no {folder / 'model.mindir'} (make it with tools/make_zoo.py)")
            continue
        x = np.load(folder / "input_0.npy")
        sessions = {
            t: mindinfer.Session(folder / "model.mindir", target="cpu", options={"threads": t}) for t in args.threads
        }
        times: dict[int, list[float]] = {t: [] for t in args.threads}
        splits: dict[int, int] = {}
        for sess in sessions.values():
            sess.run([x])
        for _ in range(args.loops):
            for t, sess in sessions.items():
                counter.count = 0
                start = time.perf_counter()
                sess.run([x])
                times[t].append(time.perf_counter() - start)
                splits[t] = counter.count
        cells = " ".join(f"{f'{statistics.median(times[t]) * 1e3:.2f} ({splits[t]})':>19}" for t in args.threads)
        print(f"{net:>24} {batch:>5} {cells}")
        for sess in sessions.values():
            sess.close()


if __name__ == "__main__":
    main()
