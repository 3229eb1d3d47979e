"""How far MindSpore's stored zoo outputs, and ours, are from a float64 evaluation of the same network.

    .venv/bin/python tools/precision_check.py efficientnet_b0:1 mixnet_s:1 [--targets cpu cpu@onnx]
        [--zoo DIR] [--markdown tools/zoo_precision.md] [--top 5]

Why: a few zoo networks (random, untrained weights, so activations reach the hundreds) miss the element-wise
``allclose(rtol=1e-3, atol=1e-4)`` against MindSpore on a handful of output elements while their cosine
is 1 - 1e-10. If MindSpore's float32 output is itself that far from the exact result, the misses are
float32 rounding (summation order), not a bug. This script measures it, without MindSpore.

The float64 reference R: the cpu plugin's source is copied to a temporary package ``mindinfer_cpu_f64``
with every ``np.float32`` replaced by ``np.float64`` (its kernels cast weights and norm statistics to
float32 in a few places) and float32 dtype constants (``Cast`` targets) mapped to float64; the model's
parameters, constants and input are cast to float64. Every kernel output of that run is checked: a
float32/float16 array anywhere stops the script rather than report a half-float64 result. The project's
plugin files are not touched. A second float64 result that shares none of those kernels (our ONNX
converter's graph cast to double, run by ``onnx.reference.ReferenceEvaluator``) is compared with R
(``--no-cross`` skips it; it is the slow part on big networks).

Rows, each against R: max |a - R|; the worst ``|a - R| / (1e-4 + 1e-3 |R|)`` (the allclose tolerance
with R as reference, > 1 fails); failing elements; 1 - cosine; the median of ``|a - R| / (u S)``, where
``S`` is the last MatMul's sum of |terms| (``|x| @ |W|``, bias left out) for each output element and
``u = 2**-24`` the float32 unit roundoff (how many last-layer-sized roundings the error is; where
``S >> |R|`` a tiny relative error in the terms is a large one in R); the correlation of the row's
error with MindSpore's. ``MindSpore (stored)`` is the zoo's output_0.npy; ``ideal f32`` is R's own
computation with every step's result rounded to float32 (the error no float32 implementation avoids);
``f64 + random +-u`` multiplies every step's result by 1 +- u, random signs (how much one unbiased
rounding per value moves the output); then the targets. ``(allclose check)`` rows are the element-wise allclose test
against MindSpore's stored output, for R itself, the ideal float32 run and each target. Last, on the elements where a target fails the allclose check, both sides' errors
against R: whichever side is further from R is the inaccurate one.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import mindinfer
import numpy as np
from mindinfer.ir import Const, Graph, Input, Model, Parameter, TensorSpec, TupleOf

RTOL = 1e-3
ATOL = 1e-4
U32 = 2.0**-24  # float32 unit roundoff
F64_PACKAGE = "mindinfer_cpu_f64"
LOW_FLOATS = (np.dtype(np.float32), np.dtype(np.float16))


# ---------------------------------------------------------------------------------------------------
# The float64 copy of the cpu plugin
# ---------------------------------------------------------------------------------------------------

_DTYPES_PATCH = """

# --- added by tools/precision_check.py: dtype constants that name float32/float16 mean float64 here.
import numpy as np
from mindinfer.dtypes import to_numpy_dtype as _to_numpy_dtype_f32

SUPPORTED_DTYPES = SUPPORTED_DTYPES | {"float64"}


def to_numpy_dtype(value):  # type: ignore[no-redef]
    dt = _to_numpy_dtype_f32(value)
    return np.dtype(np.float64) if dt is not None and dt.kind == "f" else dt
"""


def load_f64_plugin(workdir: str) -> Any:
    """Import a float64 copy of the installed cpu plugin from ``workdir``; returns its executable module."""
    spec = importlib.util.find_spec("mindinfer_cpu")
    if spec is None or spec.origin is None:
        raise SystemExit("precision_check: the cpu plugin (mindinfer_cpu) is not installed in this environment")
    src = os.path.dirname(spec.origin)
    dst = os.path.join(workdir, F64_PACKAGE)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    for root, _dirs, files in os.walk(dst):
        for fname in files:
            if not fname.endswith(".py"):
                continue
            path = os.path.join(root, fname)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if re.search(r"^\s*(from|import)\s+mindinfer_cpu\b", text, re.MULTILINE):
                raise SystemExit(f"precision_check: {path} imports mindinfer_cpu absolutely; the copy would mix")
            text = text.replace("np.float32", "np.float64")
            if fname == "_dtypes.py" and root == dst:
                text += _DTYPES_PATCH
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    sys.path.insert(0, workdir)
    try:
        return importlib.import_module(F64_PACKAGE + ".executable")
    finally:
        sys.path.remove(workdir)


def _f64(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype in LOW_FLOATS:
        return value.astype(np.float64)
    if isinstance(value, np.floating) and np.dtype(type(value)) in LOW_FLOATS:
        return np.float64(value)
    return value


def _spec64(spec: TensorSpec | None) -> TensorSpec | None:
    if spec is not None and spec.dtype in ("float32", "float16"):
        return dataclasses.replace(spec, dtype="float64")
    return spec


def _input64(item: Input) -> Input:
    if isinstance(item, Const):
        return Const(_f64(item.value), item.name)
    if isinstance(item, TupleOf):
        return TupleOf(tuple(_input64(i) for i in item.items))
    return item


def _graph64(g: Graph) -> Graph:
    nodes = [
        dataclasses.replace(
            n,
            inputs=[_input64(i) for i in n.inputs],
            attrs={k: _f64(v) for k, v in n.attrs.items()},
            out_specs=[_spec64(s) for s in n.out_specs],
        )
        for n in g.nodes
    ]
    params = {k: Parameter(_spec64(p.spec), _f64(p.data)) for k, p in g.params.items()}  # type: ignore[arg-type]
    return dataclasses.replace(
        g,
        inputs=[_spec64(s) for s in g.inputs],  # type: ignore[misc]
        nodes=nodes,
        params=params,
        output_specs=[_spec64(s) for s in g.output_specs],  # type: ignore[misc]
    )


def model_to_f64(model: Model) -> Model:
    """The same model with every float32/float16 parameter, constant and spec made float64."""
    return dataclasses.replace(
        model, main=_graph64(model.main), functions={k: _graph64(g) for k, g in model.functions.items()}
    )


@dataclass
class F64Run:
    """The float64 result plus what the guard saw."""

    output: np.ndarray
    low_precision_steps: list[str] = field(default_factory=list)
    last_matmul: tuple[np.ndarray, np.ndarray, bool] | None = None  # x, w, transpose_b


Post = Callable[[np.ndarray], np.ndarray]


def round32(y: np.ndarray) -> np.ndarray:
    """Round to the nearest float32, kept as float64: one correctly rounded float32 store."""
    return y.astype(np.float32).astype(np.float64)


def random_ulp(seed: int) -> Post:
    """Multiply each element by 1 +- u (random sign): an unbiased rounding-sized perturbation."""
    rng = np.random.default_rng(seed)
    return lambda y: y * (1.0 + U32 * rng.choice(np.array([-1.0, 1.0]), size=y.shape))


def _apply(post: Post, value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype == np.float64 and value.ndim > 0:
        return post(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_apply(post, v) for v in value)
    return value


def run_f64(executable_module: Any, model_path: str, x: np.ndarray, post: Post | None = None) -> F64Run:
    """Run ``model_path`` in float64 with the plugin copy; every step's outputs are checked for float32.

    ``post`` is applied to every kernel's float64 results: with :func:`round32` the run is an idealized
    float32 implementation whose only error is storing each (fused) step's exact result in float32; with
    :func:`random_ulp` each result gets an unbiased perturbation of one rounding's size.
    """
    model = model_to_f64(mindinfer.load(model_path))
    exe = executable_module.CpuExecutable(model, None)
    result = F64Run(output=np.empty(0))

    def guard(step: Any) -> Callable[..., Any]:
        fn = step.fn

        def wrapped(*args: Any) -> Any:
            out = fn(*args)
            outs = out if step.multi and isinstance(out, (tuple, list)) else (out,)
            if any(isinstance(o, np.ndarray) and o.dtype in LOW_FLOATS for o in outs):
                result.low_precision_steps.append(f"{step.name} ({step.op})")
            if step.op == "MatMul" and len(args) >= 2:
                tb = bool(np.asarray(args[3])) if len(args) >= 4 and args[3] is not None else False
                result.last_matmul = (np.asarray(args[0]), np.asarray(args[1]), tb)
            return _apply(post, out) if post is not None else out

        return wrapped

    for plan in exe.program.plans.values():
        for step in plan.steps:
            step.fn = guard(step)
    result.output = np.asarray(exe.run([x.astype(np.float64)])[0], dtype=np.float64)
    exe.close()
    return result


def sum_abs_terms(mm: tuple[np.ndarray, np.ndarray, bool] | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """``|x| @ |W|`` of the last MatMul when its result has the output's shape, else None."""
    if mm is None:
        return None
    x, w, tb = mm
    try:
        aw = np.abs(w.astype(np.float64))
        s = np.abs(x.astype(np.float64)) @ (aw.T if tb else aw)
    except ValueError:
        return None
    return s if s.shape == shape else None


def onnx_reference_f64(model_path: str, x: np.ndarray) -> np.ndarray | None:
    """A second float64 result, sharing none of the cpu plugin's kernels: our ONNX converter's graph,
    cast to double, run by ``onnx.reference.ReferenceEvaluator`` (pure numpy). None when the onnx
    plugin is not installed or the converter refuses the model."""
    try:
        import onnx
        from mindinfer_onnx.convert import convert
        from onnx import TensorProto, numpy_helper
        from onnx.reference import ReferenceEvaluator
    except ImportError:
        return None
    try:
        proto = convert(mindinfer.load(model_path))
    except mindinfer.MindInferError:
        return None
    g = proto.graph

    def as_double(t: onnx.TensorProto) -> onnx.TensorProto:
        return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name)

    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(as_double(init))
    for vi in [*g.input, *g.output, *g.value_info]:
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.DOUBLE
    for node in g.node:
        for a in node.attribute:
            if a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.DOUBLE
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(as_double(a.t))
    with np.errstate(over="ignore", invalid="ignore"):  # its Sigmoid evaluates exp on both branches
        # typed as returning a dict; with output_names=None it returns the list of outputs
        outs = cast(list[Any], ReferenceEvaluator(proto).run(None, {g.input[0].name: x.astype(np.float64)}))
    out = outs[0]
    return np.asarray(out, np.float64)


# ---------------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------------


def tol_ratio(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|a - ref| / (atol + rtol |ref|): the allclose check (rtol=1e-3, atol=1e-4), > 1 fails."""
    return np.abs(a - ref) / (ATOL + RTOL * np.abs(ref))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def fmt(v: float | None, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


MS = "MindSpore (stored)"
IDEAL = "ideal f32: each step rounded"
NOISE = "f64 + random +-u per step"


def check(net: str, batch: int, zoo: str, targets: list[str], plugin: Any, top: int, cross: bool) -> list[str]:
    """Markdown lines for one network: errors against float64, the allclose check, the failing elements."""
    folder = os.path.join(zoo, net, f"b{batch}")
    path = os.path.join(folder, "model.mindir")
    x = np.load(os.path.join(folder, "input_0.npy"))
    ms = np.load(os.path.join(folder, "output_0.npy")).astype(np.float64)
    t0 = time.perf_counter()
    f64 = run_f64(plugin, path, x)
    t_f64 = time.perf_counter() - t0
    if f64.low_precision_steps:
        raise SystemExit(
            f"precision_check: {net} b{batch}: the float64 run produced float32/float16 in "
            f"{len(f64.low_precision_steps)} steps (first: {f64.low_precision_steps[0]}); the reference is not float64"
        )
    ref = f64.output.reshape(ms.shape)
    s = sum_abs_terms(f64.last_matmul, ref.shape)
    outs: dict[str, np.ndarray] = {MS: ms}
    outs[IDEAL] = run_f64(plugin, path, x, round32).output.reshape(ms.shape)
    outs[NOISE] = run_f64(plugin, path, x, random_ulp(0)).output.reshape(ms.shape)
    for t in targets:
        with mindinfer.Session(path, target=t) as sess:
            outs[t] = np.asarray(sess.run([x])[0], np.float64).reshape(ms.shape)

    lines = [f"### {net} b{batch}", ""]
    lines.append(
        f"- float64 run {t_f64:.1f} s; |R| max {np.abs(ref).max():.3g}, mean {np.abs(ref).mean():.3g}"
        + (f"; last layer S = sum|terms| median {np.median(s):.3g}" if s is not None else "")
    )
    if cross:
        try:
            other = onnx_reference_f64(path, x)
        except Exception as exc:  # noqa: BLE001 -- a cross-check that cannot run is reported, not fatal
            lines.append(f"- second float64 result unavailable: {type(exc).__name__}: {str(exc)[:200]}")
            other = None
        if other is not None:
            gap = np.abs(other.reshape(ref.shape) - ref).max()
            lines.append(
                f"- second float64 result (ONNX graph in onnx.reference): max |difference| {gap:.2g} "
                f"({gap / np.abs(ref).max():.1g} of max|R|)"
            )
    lines += [
        "",
        "| output | against | max abs err | worst d/tol | fails | 1-cos | median err/(u S) | corr with MS err |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ems = ms - ref
    for name, a in outs.items():
        d = np.abs(a - ref)
        r = tol_ratio(a, ref)
        ulps = fmt(float(np.median(d / (U32 * s))), ".1f") if s is not None else "-"
        lines.append(
            f"| {name} | float64 | {d.max():.3g} | {r.max():.2f} | {int((r > 1).sum())}/{ref.size} | "
            f"{1 - cosine(a, ref):.1e} | {ulps} | {corr(a - ref, ems):+.2f} |"
        )
    for t, a in [("float64 R itself", ref), (IDEAL, outs[IDEAL])] + [(t, outs[t]) for t in targets]:
        d = np.abs(a - ms)
        r = tol_ratio(a, ms)
        lines.append(
            f"| {t} | MindSpore (allclose check) | {d.max():.3g} | {r.max():.2f} | {int((r > 1).sum())}/{ref.size} | "
            f"{1 - cosine(a, ms):.1e} | - | - |"
        )
    for t in targets:
        r_issue = tol_ratio(outs[t], ms).ravel()
        order = [int(i) for i in np.argsort(r_issue)[::-1] if r_issue[i] > 1]
        if not order:
            continue
        et = (outs[t] - ref).ravel()
        worse = sum(abs(ems.ravel()[i]) >= abs(et[i]) for i in order)
        shown = order if top < 0 else order[:top]
        lines += [
            "",
            (
                f"{t} fails the allclose check on {len(order)} elements; there MindSpore's own error against "
                f"float64 is the larger one on {worse}. Worst {len(shown)}:"
            ),
            "",
            (
                f"| index | R (float64) | MS - R | {t} - R | {t} vs MS d/tol | MS vs R d/tol | {t} vs R d/tol "
                f"| S | MS err/(u S) | {t} err/(u S) |"
            ),
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        rf, mf = ref.ravel(), ms.ravel()
        for i in shown:
            em, eo = mf[i] - rf[i], et[i]
            si = float(s.ravel()[i]) if s is not None else None
            lines.append(
                f"| {i} | {rf[i]:.4g} | {em:+.2e} | {eo:+.2e} | {r_issue[i]:.2f} | "
                f"{abs(em) / (ATOL + RTOL * abs(rf[i])):.2f} | {abs(eo) / (ATOL + RTOL * abs(rf[i])):.2f} | "
                f"{fmt(si)} | {fmt(abs(em) / (U32 * si) if si else None, '.0f')} | "
                f"{fmt(abs(eo) / (U32 * si) if si else None, '.0f')} |"
            )
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("nets", nargs="+", help="zoo networks as NET:BATCH, e.g. efficientnet_b0:1")
    ap.add_argument("--targets", nargs="*", default=["cpu", "cpu@onnx"], help="mindinfer targets to compare")
    ap.add_argument("--zoo", default=os.path.expanduser(os.environ.get("MINDINFER_ZOO_DIR", "~/.cache/mindinfer/zoo")))
    ap.add_argument("--top", type=int, default=5, help="failing elements listed per target (-1: all)")
    ap.add_argument("--no-cross", action="store_true", help="skip the second (onnx.reference) float64 result")
    ap.add_argument("--markdown", help="also write the tables to this markdown file")
    args = ap.parse_args(argv)
    specs = []
    for spec in args.nets:
        net, _, b = spec.partition(":")
        if not b.isdigit():
            ap.error(f"{spec!r}: write NET:BATCH, e.g. {net}:1")
        if not os.path.isfile(os.path.join(args.zoo, net, f"b{b}", "model.mindir")):
            ap.error(f"{spec!r}: no {args.zoo}/{net}/b{b}/model.mindir (export it with tools/make_zoo.py)")
        specs.append((net, int(b)))
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mindinfer_f64_") as work:
        plugin = load_f64_plugin(work)
        for net, b in specs:
            part = check(net, b, args.zoo, args.targets, plugin, args.top, not args.no_cross)
            print("\n".join(part), flush=True)
            lines += part
    if args.markdown:
        cmd = "python tools/precision_check.py " + " ".join(sys.argv[1:] if argv is None else argv)
        head = ["# Zoo outputs against a float64 evaluation", "", f"Produced by `{cmd}`.", ""]
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("\n".join(head + lines).rstrip("\n") + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
