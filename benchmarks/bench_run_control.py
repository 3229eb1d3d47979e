"""What a time limit costs a run: ``sess.run(x, timeout=...)`` against ``sess.run(x)``, same session.

With a time limit the cpu plugin checks the limit before every kernel call and loop trip; the onnx
plugin makes an onnxruntime ``RunOptions`` per run, whose ``terminate`` core's one watchdog thread
(shared by all runs) sets at the deadline.
Calls alternate in one process (so machine noise hits both alike); the median per-pair time ratio
is reported, never asserted.

    .venv/bin/python benchmarks/bench_run_control.py [--cases mobilenet_v2_035_96_c10 lenet5] [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import mindinfer as mi
import numpy as np

CASES = Path(__file__).resolve().parents[1] / "conformance" / "mindinfer_conformance" / "cases" / "model"


def _pairs(sess: mi.Session, ins: list[np.ndarray], runs: int) -> tuple[float, float, float]:
    """(median plain ms, median limited ms, median per-pair ratio limited/plain)."""
    for _ in range(10):
        sess.run(ins)
        sess.run(ins, timeout=60)
    plain, limited, ratios = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(ins)
        t1 = time.perf_counter()
        sess.run(ins, timeout=60)
        t2 = time.perf_counter()
        plain.append(t1 - t0)
        limited.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
    return statistics.median(plain) * 1e3, statistics.median(limited) * 1e3, statistics.median(ratios)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", nargs="+", default=["mobilenet_v2_035_96_c10", "lenet5", "transformer_block"])
    p.add_argument("--targets", nargs="+", default=["cpu@cpu", "cpu@onnx"])
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    print("| case | target | run(x) ms | run(x, timeout=60) ms | median ratio |")
    print("|---|---|---|---|---|")
    for case in args.cases:
        folder = CASES / case
        ins = [np.load(f) for f in sorted(folder.glob("input_*.npy"))]
        for target in args.targets:
            with mi.Session(folder / "model.mindir", target=target, options={"threads": args.threads}) as sess:
                a, b, r = _pairs(sess, ins, args.runs)
            print(f"| {case} | {target} | {a:.3f} | {b:.3f} | {r:.3f} |")


if __name__ == "__main__":
    main()
