"""``mindinfer bench``: load, compile and first-run times, then latency statistics over many runs.

Modelled on MindSpore Lite's benchmark tool (warm-up runs, then a loop count; min/median/p90/max).
``--callers N`` runs N caller threads that share one Session, each doing ``--loops`` runs, which
measures what concurrent callers see (the Session serializes them unless the backend says its
executable is thread-safe). ``--threads N`` is the backend's own ``threads`` option, as
``--option threads=N`` is, the same name meaning the same thing everywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from ._cli_common import add_model_args, load_kwargs, make_inputs, note_failed_plugins, parse_options, print_checkpoint
from ._plugins import get_registry
from .session import Session, open_model

__all__ = ["add_bench_parser"]


def add_bench_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("bench", help="load time, first run, latency min/median/p90/max")
    add_model_args(p)
    p.add_argument("--warmup", type=int, default=3, help="runs before timing (default 3)")
    p.add_argument("--loops", type=int, default=10, help="timed runs per thread (default 10)")
    p.add_argument("--callers", type=int, default=1, help="caller threads sharing the session (default 1)")
    p.add_argument(
        "--threads", type=int, help="the backend's threads option (same as --option threads=N; see `mindinfer plugins`)"
    )
    p.add_argument("--profile", action="store_true", help="per-node/op times, if the plugin can profile")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar on stderr")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.loops < 1 or args.callers < 1 or args.warmup < 0:
        print("error: --loops and --callers must be >= 1, --warmup >= 0", file=sys.stderr)
        return 2
    options = parse_options(args.option)
    if args.threads is not None:
        options["threads"] = args.threads
    note_failed_plugins()
    t0 = time.perf_counter()
    model = open_model(args.model, get_registry(), **load_kwargs(args))
    t1 = time.perf_counter()
    sess = Session(model, target=args.target, options=options)
    t2 = time.perf_counter()
    with sess:
        inputs = make_inputs(sess.inputs, args.input, args.shape, args.seed)
        t3 = time.perf_counter()
        sess.run(inputs)
        first = time.perf_counter() - t3
        emit = _quiet if args.json else print
        emit(f"model: {args.model}")
        emit(f"placement: {sess.placement}")
        if not args.json:
            print_checkpoint(model)
        emit(f"load: {_ms(t1 - t0)}  compile: {_ms(t2 - t1)}  first run: {_ms(first)}")
        for _ in range(args.warmup):
            sess.run(inputs)
        total = args.loops * args.callers
        show = args.progress if args.progress is not None else (sys.stderr.isatty() and first * total > 2.0)
        times, wall = _timed_runs(sess, inputs, args.loops, args.callers, _Progress(total) if show else None)
        t = np.array(times)
        stats = {
            "min": float(t.min()),
            "median": float(np.median(t)),
            "p90": float(np.percentile(t, 90)),
            "max": float(t.max()),
            "mean": float(t.mean()),
        }
        emit(f"runs: {args.warmup} warm-up, {args.loops} timed x {args.callers} thread(s)")
        emit("latency: " + "  ".join(f"{k} {_ms(v)}" for k, v in stats.items()))
        emit(f"throughput: {total / wall:.1f} runs/s")
        profile = _profile(sess, inputs, args.loops, emit) if args.profile else None
        if args.json:
            result: dict[str, Any] = {
                "model": str(args.model),
                "placement": sess.placement.to_json(),
                "load_s": t1 - t0,
                "compile_s": t2 - t1,
                "first_run_s": first,
                "warmup": args.warmup,
                "loops": args.loops,
                "callers": args.callers,
                "options": options,
                "latency_s": stats,
                "throughput_per_s": total / wall,
            }
            if getattr(model, "checkpoint", None) is not None:
                result["checkpoint"] = str(model.checkpoint)  # type: ignore[union-attr]
            if args.profile:
                result["profile"] = profile
            print(json.dumps(result, indent=2, default=str))
    return 0


def _quiet(*_: object) -> None:
    """``--json``: the text lines are not printed."""


def _timed_runs(
    sess: Session, inputs: list[np.ndarray], loops: int, threads: int, progress: _Progress | None
) -> tuple[list[float], float]:
    times: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(loops):
                start = time.perf_counter()
                sess.run(inputs)
                elapsed = time.perf_counter() - start
                with lock:
                    times.append(elapsed)
                    if progress:
                        progress.step()
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the main thread
            errors.append(exc)

    start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    wall = time.perf_counter() - start
    if progress:
        progress.done()
    if errors:
        raise errors[0]
    return times, wall


def _profile(
    sess: Session, inputs: list[np.ndarray], loops: int, emit: Callable[..., None] = print
) -> dict[str, Any] | None:
    if not sess.can_profile:
        emit(f"profile: plugin {sess.placement.plugin!r} offers no profile (its executable has no run_profiled)")
        return None
    by_node: dict[tuple[str, str], float] = defaultdict(float)
    by_op: dict[str, float] = defaultdict(float)
    for _ in range(loops):
        _, records = sess.run_profiled(inputs)
        for node, op, seconds in records:
            by_node[(node, op)] += seconds / loops
            by_op[op] += seconds / loops
    total = sum(by_op.values()) or 1.0
    emit(f"profile: mean over {loops} run(s), top nodes by time")
    for (node, op), s in sorted(by_node.items(), key=lambda kv: -kv[1])[:10]:
        emit(f"  {_ms(s):>11}  {100 * s / total:5.1f}%  {op:<20} {node}")
    emit("profile: by primitive")
    for op, s in sorted(by_op.items(), key=lambda kv: -kv[1])[:10]:
        emit(f"  {_ms(s):>11}  {100 * s / total:5.1f}%  {op}")
    return {
        "runs": loops,
        "nodes_s": [
            {"node": node, "op": op, "seconds": s} for (node, op), s in sorted(by_node.items(), key=lambda kv: -kv[1])
        ],
        "ops_s": dict(sorted(by_op.items(), key=lambda kv: -kv[1])),
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


class _Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int) -> None:
        self.total, self.count, self._last = total, 0, 0.0

    def step(self) -> None:
        self.count += 1
        now = time.perf_counter()
        if now - self._last >= 0.1 or self.count == self.total:
            self._last = now
            filled = int(30 * self.count / self.total)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.count}/{self.total}")
            sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()
