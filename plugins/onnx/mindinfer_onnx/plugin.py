"""The plugin module named by the ``mindinfer.backends`` entry point ``onnx``.

Registers the onnx backend, adds ``mindinfer convert``, and opens ``.onnx`` files for
``Session(path)``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mindinfer._checkpoint import CheckpointWarning
from mindinfer._decrypt import cipher_mode
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
        "2 GB go to MODEL.onnx.data (ONNX external data). --checkpoint converts a MindSpore checkpoint's weights; "
        "encrypted MindIR is refused (its weights would land on disk in plain).",
    )
    p.add_argument("model", help="the .mindir file")
    p.add_argument("-o", "--output", help="the .onnx file to write (default: MODEL with .onnx)")
    p.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset, {MIN_OPSET}..{MAX_OPSET} (default {DEFAULT_OPSET})",
    )
    p.add_argument("--checkpoint", metavar="FILE", help="MindSpore .ckpt or .safetensors whose weights to convert")
    p.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="parameters missing from --checkpoint keep the MindIR's values",
    )
    p.set_defaults(func=_convert_command)


def _convert_command(args: argparse.Namespace) -> int:
    from mindinfer.cli import check_output_file

    from .convert import convert_file

    src = Path(args.model)
    if src.is_dir():
        raise MindInferError(f"{src}: is a directory; give the path of the .mindir file in it")
    if not src.is_file():
        raise MindInferError(f"{src}: no such model file")
    # Checked before converting, which can take a while: a bad -o fails at once.
    dst = check_output_file(Path(args.output) if args.output else src.with_suffix(".onnx"), "-o")
    with open(src, "rb") as fh:
        mode = cipher_mode(fh.read(4))
    if mode:
        raise MindInferError(
            f"{src}: encrypted MindIR ({mode}); converting it would write its weights in plain to an .onnx file, "
            f"which mindinfer never does. Run it directly: mindinfer run {src} --dec-key-file KEY --dec-mode {mode}"
        )
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CheckpointWarning)
        path = convert_file(src, dst, args.opset, checkpoint=args.checkpoint, strict=args.strict)
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    data = path.with_name(path.name + ".data")
    extra = f" (+ weights in {data})" if data.exists() else ""
    print(f"wrote {path}{extra}: opset {args.opset}, checked, {time.perf_counter() - start:.2f} s")
    return 0


@hookimpl
def open_foreign_model(path: str) -> ForeignModel | None:
    if not path.lower().endswith(".onnx"):
        return None
    from ._foreign import open_onnx

    return open_onnx(path)
