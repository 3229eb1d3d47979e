"""An ATC **simulator**: checks an ``atc`` command line the way ATC documents it, writes a simulated .om.

Run as ``python -m mindinfer_ascend.testing.atc_simulator --model=m.onnx --framework=5 ...`` in place of
``atc`` (the plugin does so when ``MINDINFER_ASCEND_SIMULATOR`` is set). It compiles nothing: it checks
the options against the ATC command-line reference (CANN 8.x) and the ONNX graph, and writes
``<output>.om`` in the simulator's own format (:mod:`.simulated_om`) for the ACL simulator to run.

Checked: the required options; ``--framework=5`` (ONNX; the simulator reads nothing else); the ONNX
opset against the range CANN 8.0 documents (11-15, or ``MINDINFER_ASCEND_SIMULATOR_OPSETS=lo-hi``);
``--soc_version``; ``--input_format`` (NCHW/NHWC need 4-D inputs); ``--input_shape`` naming every graph
input once with dims that agree with the graph, ``-1`` only with ``--dynamic_batch_size`` and only in
the first dimension; 2 to 100 distinct gears from 1 to 2048 (atlasatcparam_16_0018); ``--precision_mode`` values; ``--log`` values.
``MINDINFER_ASCEND_SIMULATOR_ATC_SLEEP`` (seconds) makes it hang first, for timeout tests;
``MINDINFER_ASCEND_SIMULATOR_ATC_FAIL`` (text) makes it fail with that text, for failure-log tests.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from . import simulated_om

PRECISION_MODES = (
    "force_fp16",
    "allow_fp32_to_fp16",
    "must_keep_origin_dtype",
    "force_fp32",
    "cube_fp16in_fp32out",
    "allow_mix_precision",
    "allow_mix_precision_fp16",
    "allow_mix_precision_bf16",
)
KNOWN = {"model", "framework", "output", "soc_version", "input_shape", "input_format", "precision_mode",
         "dynamic_batch_size", "log"}  # fmt: skip
_SOC_RE = re.compile(r"^Ascend(310|310P\d?|310B\d?|910|910[A-C]\d?|910_93\d*)$")


class AtcError(Exception):
    pass


def parse(argv: list[str]) -> dict[str, str]:
    """ATC's ``--k=v`` / ``--k v`` / ``-k=v`` forms, as a dict; an option given twice is an error."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):
            raise AtcError(f"E10001: unexpected argument {arg!r}")
        key, eq, val = arg.lstrip("-").partition("=")
        if not eq:
            if i + 1 >= len(argv):
                raise AtcError(f"E10001: option --{key} needs a value")
            i, val = i + 1, argv[i + 1]
        if key not in KNOWN:
            raise AtcError(f"E10001: the simulator does not know option --{key}")
        if key in opts:
            raise AtcError(f"E10001: option --{key} is given twice")
        opts[key] = val
        i += 1
    return opts


def _opset_range() -> tuple[int, int]:
    lo, _, hi = os.environ.get("MINDINFER_ASCEND_SIMULATOR_OPSETS", "11-15").partition("-")
    return int(lo), int(hi or lo)


def check(opts: dict[str, str]) -> tuple[dict[str, object], bytes]:
    """The simulated .om's header and ONNX bytes, or :class:`AtcError` saying what ATC would refuse."""
    import onnx

    for key in ("model", "framework", "output", "soc_version"):
        if key not in opts:
            raise AtcError(f"E10004: required option --{key} is missing")
    if opts["framework"] != "5":
        raise AtcError(f"E10001: --framework={opts['framework']}: the simulator reads ONNX only (--framework=5)")
    if not _SOC_RE.match(opts["soc_version"]):
        raise AtcError(
            f"E10001: --soc_version={opts['soc_version']} is not a known SoC (e.g. Ascend310P3, Ascend910B3)"
        )
    try:
        proto = onnx.load(opts["model"])
    except Exception as exc:
        raise AtcError(f"E10001: --model={opts['model']} is not a readable ONNX file: {exc}") from exc
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    lo, hi = _opset_range()
    if not lo <= opset <= hi:
        raise AtcError(f"E16005: the model's ONNX opset {opset} is outside this CANN's supported range {lo}-{hi}")
    precision = opts.get("precision_mode", "force_fp16")
    if precision not in PRECISION_MODES:
        raise AtcError(f"E10001: --precision_mode={precision} is not one of {', '.join(PRECISION_MODES)}")
    if opts.get("log", "error") not in ("debug", "info", "warning", "error", "null"):
        raise AtcError(f"E10001: --log={opts['log']} is not valid")
    inits = {t.name for t in proto.graph.initializer}
    graph_inputs = {i.name: i for i in proto.graph.input if i.name not in inits}
    shapes = _input_shapes(opts.get("input_shape", ""), graph_inputs)
    fmt = opts.get("input_format", "NCHW")
    if fmt not in ("NCHW", "NHWC", "ND"):
        raise AtcError(f"E10001: --input_format={fmt} is not NCHW, NHWC or ND")
    if fmt != "ND" and any(len(s) != 4 for s in shapes.values()):
        raise AtcError(f"E10001: --input_format={fmt} needs 4-D inputs; use ND")
    gears = _gears(opts.get("dynamic_batch_size"), shapes)
    header: dict[str, object] = {
        "soc_version": opts["soc_version"],
        "precision_mode": precision,
        "batch_sizes": gears,
        "input_format": fmt,
        "inputs": [{"name": n, "shape": list(s)} for n, s in shapes.items()],
        "opset": opset,
    }
    return header, proto.SerializeToString()


def _input_shapes(text: str, graph_inputs: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    given: dict[str, tuple[int, ...]] = {}
    for part in filter(None, text.split(";")):
        name, sep, dim_text = part.rpartition(":")
        if not sep or not name:
            raise AtcError(f"E10002: --input_shape entry {part!r} is not name:d1,d2,...")
        try:
            given[name] = tuple(int(d) for d in dim_text.split(",")) if dim_text else ()
        except ValueError as exc:
            raise AtcError(f"E10002: --input_shape entry {part!r} has a dimension that is not an integer") from exc
    unknown = sorted(set(given) - set(graph_inputs))
    if unknown:
        raise AtcError(
            f"E10016: --input_shape names {unknown}, which are not inputs of the model ({sorted(graph_inputs)})"
        )
    shapes = {}
    for name, vi in graph_inputs.items():
        dims = list(vi.type.tensor_type.shape.dim)
        if name not in given:
            if any(not d.HasField("dim_value") for d in dims):
                raise AtcError(f"E10001: input {name} has a dynamic dimension and no --input_shape entry")
            shapes[name] = tuple(d.dim_value for d in dims)
            continue
        shape = given[name]
        if len(shape) != len(dims):
            raise AtcError(f"E10001: --input_shape gives {name} {len(shape)} dims, the model {len(dims)}")
        for k, (want, d) in enumerate(zip(shape, dims)):
            if d.HasField("dim_value") and want != d.dim_value:
                raise AtcError(f"E10001: --input_shape {name} dim {k} is {want}, the model's is {d.dim_value}")
            if want < -1 or want == 0:
                raise AtcError(f"E10001: --input_shape {name} dim {k} is {want}")
        shapes[name] = shape
    return shapes


def _gears(text: str | None, shapes: dict[str, tuple[int, ...]]) -> list[int]:
    dynamic = {n: s for n, s in shapes.items() if -1 in s}
    if text is None:
        if dynamic:
            raise AtcError(f"E10001: --input_shape has -1 for {sorted(dynamic)} but no --dynamic_batch_size is given")
        return []
    try:
        gears = [int(g) for g in text.split(",")]
    except ValueError as exc:
        raise AtcError(f"E10001: --dynamic_batch_size={text} is not a list of integers") from exc
    if not 1 < len(gears) <= 100 or len(set(gears)) != len(gears) or min(gears) < 1 or max(gears) > 2048:
        raise AtcError(f"E10035: --dynamic_batch_size={text} needs 2 to 100 distinct gears from 1 to 2048")
    if not dynamic:
        raise AtcError("E10031: --dynamic_batch_size needs -1 in the batch dimension of --input_shape")
    for name, shape in dynamic.items():
        if shape[0] != -1 or -1 in shape[1:]:
            raise AtcError(f"E10031: with --dynamic_batch_size only the first dimension may be -1 ({name}: {shape})")
    return gears


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    print("ATC start working now (SIMULATED: mindinfer's ATC simulator, nothing is compiled)", flush=True)
    delay = float(os.environ.get("MINDINFER_ASCEND_SIMULATOR_ATC_SLEEP", "0") or 0)
    if delay:
        time.sleep(delay)
    try:
        failure = os.environ.get("MINDINFER_ASCEND_SIMULATOR_ATC_FAIL")
        if failure:
            raise AtcError(failure)
        opts = parse(argv)
        header, onnx_bytes = check(opts)
    except AtcError as exc:
        print(f"ATC run failed (simulated), please check the detail log.\n{exc}", flush=True)
        return 1
    header["argv"] = argv
    simulated_om.write(Path(opts["output"] + ".om"), header, onnx_bytes)
    print("ATC run success, welcome to the next use.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
