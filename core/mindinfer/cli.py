"""The ``mindinfer`` command line: plugins, devices, inspect, run, bench, plus plugin commands.

Every :class:`MindInferError` is printed as one line, ``error: ...``, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, list_devices
from ._bench import add_bench_parser
from ._checkpoint import CheckpointWarning
from ._cli_common import (
    add_load_args,
    add_model_args,
    load_kwargs,
    make_inputs,
    note_failed_plugins,
    parse_options,
    print_checkpoint,
)
from ._paths import check_output_dir, check_output_file
from ._plugins import get_registry
from .errors import MindInferError
from .ir import ForeignModel, Model, TensorSpec
from .serve.cli import add_serve_parser
from .session import Session, open_model

__all__ = [
    "add_load_args",
    "check_output_dir",
    "check_output_file",
    "load_kwargs",
    "main",
    "make_inputs",
    "print_checkpoint",
]

# Re-exported: plugin commands and tests use them from here.
_ = (add_load_args, check_output_dir, check_output_file, load_kwargs, make_inputs, print_checkpoint)


def main(argv: Sequence[str] | None = None) -> int:
    # Plugin load failures are reported by the commands themselves (plugins, inspect, notes on
    # run/bench), so the logger's warnings would only repeat them.
    logging.getLogger("mindinfer.plugins").setLevel(logging.ERROR)
    # The commands print what a checkpoint changed themselves (print_checkpoint).
    warnings.simplefilter("ignore", CheckpointWarning)
    try:
        parser = _build_parser()
    except MindInferError as exc:  # MINDINFER_PLUGINS naming no plugin, say
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except MindInferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mindinfer plugins --json | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mindinfer", description="Run MindSpore MindIR models on any device.")
    parser.add_argument("--version", action="version", version=f"mindinfer {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("plugins", help="installed plugins: distribution, version, backends, status")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_plugins)

    p = sub.add_parser("devices", help="every device of every backend, usable or not and why")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_devices)

    p = sub.add_parser("inspect", help="inputs, outputs, primitives, parameters, backend coverage")
    p.add_argument("model", help="a .mindir file (or a format a plugin opens)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_load_args(p)
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("run", help="run a model once and print its outputs")
    add_model_args(p)
    p.add_argument("--output-dir", type=Path, help="save outputs as output_N.npy here")
    p.add_argument("--print-all", action="store_true", help="print every value of every output (default: the first 6)")
    p.add_argument("--json", action="store_true", help="print JSON (values with --print-all, else the first 6)")
    p.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="stop the run after this long (error, exit status 2)",
    )
    p.set_defaults(func=_cmd_run)

    add_bench_parser(sub)
    add_serve_parser(sub)
    get_registry().register_commands(sub)
    return parser


# -- plugins / devices -------------------------------------------------------------------------
def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:  # NaN included
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _cmd_plugins(args: argparse.Namespace) -> int:
    registry = get_registry()
    plugins = registry.plugins
    if args.json:
        print(json.dumps([p.to_json() for p in plugins], indent=2))
        return 0
    if registry.env_note():
        print(f"note: {registry.env_note()}")
    if not plugins and not registry.env_note():
        print("no plugins installed (entry point group mindinfer.backends)")
    for p in plugins:
        dist = f"{p.distribution} {p.version}".strip() or "(registered in-process)"
        print(f"{p.name}: {p.status}  [{dist}]  module {p.module}")
        for b in p.backends:
            print(
                f"    backend {b.name}: kinds {', '.join(b.device_kinds)}, priority {b.priority}, contract {b.contract_version}"
            )
            for o in b.options:
                print(f"        option {o.describe()}")
        if p.error is not None:
            print(f"    {p.error_text}")
    return 0


def _cmd_devices(args: argparse.Namespace) -> int:
    rows = list_devices()
    registry = get_registry()
    failed = [p for p in registry.plugins if p.status == "failed"]
    if args.json:
        out: list[dict[str, Any]] = [
            {
                "backend": b,
                "kind": d.kind,
                "index": d.index,
                "name": d.name,
                "chip": d.chip,
                "usable": d.usable,
                "reason": d.reason,
                "details": d.details,
            }
            for b, d in rows
        ]
        # A plugin that failed to load has devices nobody can list: one entry says so.
        out += [
            {"backend": p.name, "kind": None, "index": None, "name": "", "chip": "", "usable": False,
             "reason": f"plugin failed to load: {p.error_text}", "details": {}}
            for p in failed
        ]  # fmt: skip
        print(json.dumps(out, indent=2))
        return 0
    if registry.env_note():
        print(f"note: {registry.env_note()}")
    if not rows and not failed:
        print("no devices: no backend is loaded (see `mindinfer plugins`)")
    for backend, d in rows:
        state = "usable" if d.usable else f"unusable: {d.reason}"
        print(f"{d.kind}:{d.index}@{backend}  {d.name or d.chip}  {state}")
        for key, value in (d.details or {}).items():
            print(f"    {key}: {value}")
    for p in failed:
        print(f"plugin {p.name}: failed to load, its devices are unknown: {p.error_text} (see `mindinfer plugins`)")
    return 0


# -- inspect -----------------------------------------------------------------------------------
def _cmd_inspect(args: argparse.Namespace) -> int:
    registry = get_registry()
    model = open_model(args.model, registry, **load_kwargs(args))
    if args.json:
        print(json.dumps(_inspect_json(args.model, model, registry), indent=2))
        return 0
    print(f"model: {args.model}")
    if isinstance(model, ForeignModel):
        print(f"format: {model.format} (opened by a plugin)")
    else:
        print(f"producer: {model.producer} {model.producer_version}".rstrip())
        if model.encrypted:
            print("encrypted: yes (decrypted in memory)")
        print_checkpoint(model)
    print("inputs:")
    for s in model.inputs:
        print(f"  {s}" + ("  (dynamic)" if s.is_dynamic else ""))
    print("outputs:")
    for s in model.outputs:
        print(f"  {s}")
    if isinstance(model, Model):
        _print_graph_summary(model)
    print("backends:")
    for b in registry.backends():
        print(f"  {b.name} ({', '.join(b.device_kinds)}): {_coverage(model, b)}")
    for p in registry.plugins:
        if p.status != "loaded":
            print(f"  plugin {p.name}: {p.status} ({p.error_text})")
    return 0


def _inspect_json(path: str, model: Model | ForeignModel, registry: Any) -> dict[str, Any]:
    def spec(s: TensorSpec) -> dict[str, Any]:
        return {"name": s.name, "dtype": s.dtype, "shape": None if s.shape is None else list(s.shape)}

    out: dict[str, Any] = {"model": path, "inputs": [spec(s) for s in model.inputs]}
    out["outputs"] = [spec(s) for s in model.outputs]
    if isinstance(model, ForeignModel):
        out["format"] = model.format
    else:
        params = model.parameters()
        out.update(
            format="mindir",
            producer=f"{model.producer} {model.producer_version}".strip(),
            graphs=len(model.graphs),
            control_flow=model.has_control_flow,
            primitives=dict(sorted(model.primitive_histogram().items())),
            parameters={
                "tensors": len(params),
                "values": sum(int(p.data.size) for p in params),
                "bytes": sum(int(p.data.nbytes) for p in params),
            },
        )
    backends = []
    for b in registry.backends():
        gaps = b.capabilities.missing(model)
        backends.append(
            {
                "name": b.name,
                "device_kinds": list(b.device_kinds),
                "coverage": _coverage(model, b),
                "lacks": {g.name: list(g.where) for g in gaps if g.kind == "primitive"},
            }
        )
    out["backends"] = backends
    out["plugins_not_loaded"] = {
        p.name: f"{p.status}: {p.error_text}" for p in registry.plugins if p.status != "loaded"
    }
    return out


def _print_graph_summary(model: Model) -> None:
    hist = model.primitive_histogram()
    extra = f", {len(model.functions)} function graph(s)" if model.functions else ""
    print(f"graphs: {len(model.graphs)}{extra}; control flow: {'yes' if model.has_control_flow else 'no'}")
    print(f"primitives ({sum(hist.values())} nodes, {len(hist)} kinds):")
    for op, n in sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {op:<24} {n}")
    params = model.parameters()
    count = sum(int(p.data.size) for p in params)
    nbytes = sum(int(p.data.nbytes) for p in params)
    print(f"parameters: {len(params)} tensors, {count:,} values, {nbytes:,} bytes")


def _coverage(model: Model | ForeignModel, backend: Any) -> str:
    gaps = backend.capabilities.missing(model)
    if gaps and gaps[0].kind == "format":
        return f"does not read {gaps[0].name} models"
    notes = []
    prims = sorted((g for g in gaps if g.kind == "primitive"), key=lambda g: g.name)
    if prims:
        notes.append("lacks " + ", ".join(f"{g.name} ({len(g.where)})" for g in prims))
    notes += ["no dynamic shapes" if g.kind == "dynamic shapes" else f"no {g}" for g in gaps if g.kind != "primitive"]
    return "; ".join(notes) or "supports every primitive"


# -- run ---------------------------------------------------------------------------------------
def _cmd_run(args: argparse.Namespace) -> int:
    if args.output_dir is not None:
        check_output_dir(args.output_dir, "--output-dir")
    note_failed_plugins()
    options = parse_options(args.option)
    sess = Session(args.model, target=args.target, options=options, **load_kwargs(args))
    with sess:
        inputs = make_inputs(sess.inputs, args.input, args.shape, args.seed)
        outs = sess.run(inputs, timeout=args.timeout)
        if args.json:
            print(json.dumps(_run_json(sess, outs, args.print_all), indent=2))
        else:
            print(f"placement: {sess.placement}")
            print_checkpoint(sess.model)
            for spec, out in zip(sess.outputs, outs):
                print(_describe(spec.name, out, args.print_all))
        if args.output_dir is not None:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            for i, out in enumerate(outs):
                np.save(args.output_dir / f"output_{i}.npy", out)
            print(f"saved {len(outs)} output(s) to {args.output_dir}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _describe(name: str, out: np.ndarray, print_all: bool) -> str:
    if print_all:
        body = np.array2string(out, threshold=sys.maxsize, max_line_width=120, precision=6, separator=", ")
        return f"{name}: {out.dtype}{list(out.shape)}\n{body}"
    flat = out.reshape(-1)[:6].tolist()
    more = ", ..." if out.size > 6 else ""
    return f"{name}: {out.dtype}{list(out.shape)} [{', '.join(_fmt(v) for v in flat)}{more}]"


def _run_json(sess: Session, outs: list[np.ndarray], print_all: bool) -> dict[str, Any]:
    def value(v: Any) -> Any:
        # JSON has no NaN or infinity: they are written as strings, as numpy prints them.
        return v if not isinstance(v, float) or np.isfinite(v) else str(v)

    rows = []
    for spec, array in zip(sess.outputs, outs):
        values = array.reshape(-1) if print_all else array.reshape(-1)[:6]
        row: dict[str, Any] = {"name": spec.name, "dtype": str(array.dtype), "shape": list(array.shape)}
        row["values" if print_all else "first"] = [value(v) for v in values.tolist()]
        rows.append(row)
    result: dict[str, Any] = {"placement": sess.placement.to_json(), "outputs": rows}
    report = getattr(sess.model, "checkpoint", None)
    if report is not None:
        result["checkpoint"] = str(report)
    return result


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)
