"""``mindinfer conformance``: run the suite from the command line (added through the plugin hook).

    mindinfer conformance --target cpu@onnx --tier api,op --report r.json --markdown r.md --min-coverage 0.8
    mindinfer conformance --all --markdown matrix.md

Exit status: 0 when every backend run passes (no failure, coverage at least the minimum), 1 when
one does not, 2 for a usage error (the CLI prints mindinfer errors as one line).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .compare import PRECISIONS
from .report import to_text, write_json, write_markdown
from .runner import SuiteConfig, run_all, run_suite

__all__ = ["add_parser", "parse_coverage", "parse_option", "run_command"]


def parse_coverage(text: str) -> float:
    """``0.8``, ``80`` or ``80%`` -> 0.8."""
    raw = text.strip().rstrip("%")
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--min-coverage takes a fraction (0.8) or a percentage (80%), got {text!r}"
        ) from None
    if text.strip().endswith("%") or value > 1.0:
        value /= 100.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"--min-coverage must lie between 0 and 100%, got {text!r}")
    return value


def parse_option(text: str) -> tuple[str, Any]:
    """``threads=4`` -> ``("threads", 4)``; ``mode=fast`` -> ``("mode", "fast")``."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--option takes KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "conformance",
        help="check a backend plugin against MindSpore's own answers (api, op and model tiers)",
        description="Run the mindinfer conformance suite against one backend (--target) or all of them (--all).",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--target", "-t", help="the backend under test, e.g. cpu, cpu@onnx, gpu:0")
    which.add_argument("--all", action="store_true", help="run every installed backend; print a case x backend matrix")
    p.add_argument("--tier", default="api,op,model", help="comma-separated tiers: api, op, model (default: all)")
    p.add_argument("--report", type=Path, metavar="FILE.json", help="write the JSON report here")
    p.add_argument("--markdown", type=Path, metavar="FILE.md", help="write the Markdown report (or matrix) here")
    p.add_argument(
        "--min-coverage", type=parse_coverage, default=0.0, metavar="P",
        help="fail when passed/total is below P (0.8 or 80%%); stops a backend passing by declaring nothing",
    )  # fmt: skip
    p.add_argument(
        "--precision", choices=PRECISIONS, default="fp32",
        help="tolerance policy for a backend running in reduced precision (set the backend's own switch with --option)",
    )  # fmt: skip
    p.add_argument(
        "--option", "-o", action="append", default=[], type=parse_option, metavar="KEY=VALUE",
        help="a compile option for the backend (repeat); VALUE is read as JSON when it parses, else as a string",
    )  # fmt: skip
    p.add_argument("--case", metavar="TEXT", help="only cases whose id contains TEXT (e.g. softmax)")
    p.add_argument("--verbose", "-v", action="store_true", help="print every case's result")
    p.set_defaults(func=run_command)
    return p


def run_command(args: argparse.Namespace) -> int:
    from mindinfer.cli import check_output_file

    # Before the run, which takes minutes: a report that cannot be written fails now, in one line.
    if args.report:
        check_output_file(args.report, "--report")
    if args.markdown:
        check_output_file(args.markdown, "--markdown")
    config = SuiteConfig(
        tiers=args.tier,
        min_coverage=args.min_coverage,
        precision=args.precision,
        options=dict(args.option),
        select=args.case,
    )
    if not args.all:
        result = run_suite(args.target, config)
        print(to_text(result, verbose=args.verbose))
        if args.report:
            write_json(result, args.report)
        if args.markdown:
            write_markdown(result, args.markdown)
        return 0 if result.ok else 1
    matrix = run_all(config, announce=lambda name: print(f"running {name} ...", file=sys.stderr, flush=True))
    print(matrix.to_text())
    if args.report:
        args.report.write_text(json.dumps(matrix.to_json(), indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(matrix.to_markdown())
    return 0 if matrix.ok and matrix.results else 1
