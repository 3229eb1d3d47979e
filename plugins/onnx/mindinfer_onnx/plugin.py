"""The plugin module named by the ``mindinfer.backends`` entry point ``onnx``.

Registers the onnx backend, adds ``mindinfer convert``, and opens ``.onnx`` files for
``Session(path)``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mindinfer.errors import MindInferError
from mindinfer.hookspecs import hookimpl
from mindinfer.ir import ForeignModel

from ._opsets import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET


@hookimpl
def register_backends(register: Callable[[Any], None]) -> None:
    from .backend import OnnxBackend

    register(OnnxBackend())


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert a MindIR model to ONNX (onnx plugin)",
        description="Convert MODEL.mindir to ONNX with mindinfer's own converter (it handles models that "
        "mindspore.onnx.export cannot). The result is checked with onnx.checker (full check). Weights over "
        "2 GB go to MODEL.onnx.data (ONNX external data).",
    )
    p.add_argument("model", help="the .mindir file")
    p.add_argument("-o", "--output", help="the .onnx file to write (default: MODEL with .onnx)")
    p.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset, {MIN_OPSET}..{MAX_OPSET} (default {DEFAULT_OPSET})",
    )
    p.set_defaults(func=_convert_command)


def _convert_command(args: argparse.Namespace) -> int:
    from .convert import convert_file

    src = Path(args.model)
    if not src.is_file():
        raise MindInferError(f"{src}: no such model file")
    dst = Path(args.output) if args.output else src.with_suffix(".onnx")
    start = time.perf_counter()
    path = convert_file(src, dst, args.opset)
    data = path.with_name(path.name + ".data")
    extra = f" (+ weights in {data})" if data.exists() else ""
    print(f"wrote {path}{extra}: opset {args.opset}, checked, {time.perf_counter() - start:.2f} s")
    return 0


@hookimpl
def open_model(path: str) -> ForeignModel | None:
    if not path.lower().endswith(".onnx"):
        return None
    from ._foreign import open_onnx

    return open_onnx(path)
