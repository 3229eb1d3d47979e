"""``python -m mindinfer_fuzz`` (with ``tools`` on ``sys.path``; ``make fuzz`` does this)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .harness import Limits, fuzz, write_report
from .mutate import CLASSES


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mindinfer_fuzz", description=__doc__)
    p.add_argument("-n", type=int, default=300, help="mutants (each run on every target)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--targets", default="cpu@cpu,cpu@onnx", help="comma-separated targets")
    p.add_argument("--classes", default="", help=f"comma-separated subset of: {', '.join(CLASSES)}")
    p.add_argument("--jobs", type=int, default=2, help="children at a time")
    p.add_argument("--wall", type=float, default=30.0, help="seconds before a child counts as hung")
    p.add_argument("--run-timeout", type=float, default=5.0, help="RunOptions timeout of each run")
    p.add_argument("--memory-mb", type=int, default=3072, help="RLIMIT_AS of each child")
    p.add_argument("--out", type=Path, default=Path("fuzz-out"), help="summary.md, results.json, kept mutants")
    p.add_argument("--corpus", type=Path, action="append", default=[], help="more seed folders (case dirs)")
    args = p.parse_args(argv)
    classes = [c for c in args.classes.split(",") if c] or list(CLASSES)
    unknown = set(classes) - set(CLASSES)
    if unknown:
        p.error(f"unknown classes: {', '.join(sorted(unknown))}")
    limits = Limits(args.wall, args.run_timeout, args.memory_mb)
    report = fuzz(
        args.n, args.seed, args.targets.split(","), classes, args.jobs, limits,
        keep=args.out / "mutants", extra_seeds=args.corpus, progress=True,
    )  # fmt: skip
    write_report(report, args.out, "python -m mindinfer_fuzz " + shlex.join(sys.argv[1:] if argv is None else argv))
    print(report.table())
    bad = report.bad()
    for r in bad[:40]:
        print(f"#{r.index} {r.cls} {r.seed} [{r.what}] {r.target}: {r.outcome} at {r.stage}: {r.error[:300]}")
    print(f"{len(bad)} not clean; details in {args.out / 'summary.md'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
