"""gpu@tensorrt against a bare TensorRT execution context on the same engine, and onnxruntime's CUDA provider.

For each model: ``Session(model, target="gpu@tensorrt").run`` (numpy in, numpy out), a bare
execution context made from the very engine the session built and driven the way NVIDIA's samples
drive one (page-locked buffers, ``cudaMemcpyAsync``, ``set_tensor_address``, ``execute_async_v3``,
one synchronize), and, where onnxruntime has a working CUDA provider, a bare ``InferenceSession`` on
the converted ONNX graph. With CuPy installed it also times GPU in/GPU out: gpu@tensorrt with CuPy
inputs and ``outputs_on_gpu`` against onnxruntime's IO binding (the yardstick for device IO). Calls are interleaved in one process so that machine noise hits all
alike; the report is the median per-round ratio to the bare context (goal for gpu@tensorrt: at most
1.05). Everything it could not run is said, with the reason.

    .venv/bin/python benchmarks/bench_gpu.py [MODEL.mindir ...] [--runs 300] [--warmup 30]
        [--precision fp32|fp16|bf16] [--json out.json]

Default models: the stored cases lenet5 and small_cnn_bn, plus mobilenet_v2/resnet18 from the zoo
cache (tools/make_zoo.py) when present. **Never run yet**: no machine of this project has TensorRT.
Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "conformance" / "mindinfer_conformance" / "cases" / "model"
ZOO = Path.home() / ".cache" / "mindinfer" / "zoo"


def default_models() -> list[Path]:
    found = [CASES / n / "model.mindir" for n in ("lenet5", "small_cnn_bn")]
    found += [ZOO / n / "b1" / "model.mindir" for n in ("mobilenet_v2_100", "resnet18")]
    return [p for p in found if p.is_file()]


def load_inputs(model: Path) -> list[np.ndarray]:
    files = sorted(model.parent.glob("input_*.npy"), key=lambda p: int(p.stem.split("_")[-1]))
    return [np.load(f) for f in files]


class BareContext:
    """A TensorRT execution context on an existing engine, driven as NVIDIA's samples do (host IO)."""

    def __init__(self, trt: Any, engine: Any, inputs: list[np.ndarray], input_names: list[str]) -> None:
        from cuda.bindings import runtime as rt

        self.rt = rt
        self.ctx = engine.create_execution_context()
        self.stream = self._ok(rt.cudaStreamCreate())
        self.inputs: list[tuple[np.ndarray, int, int]] = []  # (pinned view, host ptr, device ptr)
        for name, x in zip(input_names, inputs):
            self.ctx.set_input_shape(name, x.shape)
            host, dev = self._pair(x.nbytes)
            view = np.frombuffer((ctypes.c_ubyte * x.nbytes).from_address(host), x.dtype).reshape(x.shape)
            self.inputs.append((view, host, dev))
            self.ctx.set_tensor_address(name, dev)
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.outputs: list[tuple[np.ndarray, int, int]] = []
        for name in names:
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                continue
            shape = tuple(self.ctx.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            nbytes = int(np.prod(shape)) * dtype.itemsize
            host, dev = self._pair(nbytes)
            view = np.frombuffer((ctypes.c_ubyte * nbytes).from_address(host), dtype).reshape(shape)
            self.outputs.append((view, host, dev))
            self.ctx.set_tensor_address(name, dev)

    def _ok(self, result: Any) -> Any:
        # cuda-python returns a tuple from every call: (err,) or (err, value, ...)
        err, *rest = result
        if int(err) != 0:
            raise RuntimeError(f"CUDA error {err}")
        return rest[0] if len(rest) == 1 else rest

    def _pair(self, nbytes: int) -> tuple[int, int]:
        return int(self._ok(self.rt.cudaMallocHost(nbytes))), int(self._ok(self.rt.cudaMalloc(nbytes)))

    def run(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        rt = self.rt
        for x, (view, host, dev) in zip(xs, self.inputs):
            np.copyto(view, x)
            self._ok(rt.cudaMemcpyAsync(dev, host, x.nbytes, rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        self.ctx.execute_async_v3(int(self.stream))
        for view, host, dev in self.outputs:
            kind = rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
            self._ok(rt.cudaMemcpyAsync(host, dev, view.nbytes, kind, self.stream))
        self._ok(rt.cudaStreamSynchronize(self.stream))
        return [view.copy() for view, _, _ in self.outputs]


def bench_model(model: Path, runs: int, warmup: int, precision: str) -> dict[str, Any]:
    import mindinfer

    xs = load_inputs(model)
    report: dict[str, Any] = {"model": str(model), "could_not_run": {}}
    calls: dict[str, Callable[[], Any]] = {}
    try:
        sess = mindinfer.Session(model, target="gpu@tensorrt", options={"precision": precision})
        calls["gpu@tensorrt"] = lambda: sess.run(xs)
        report["engine"] = dict(getattr(sess._exe, "info", {}))
    except mindinfer.MindInferError as exc:
        report["could_not_run"]["gpu@tensorrt"] = str(exc)
        sess = None
    if sess is not None:
        try:
            import tensorrt as trt

            bare = BareContext(trt, sess._exe.engine, xs, [s.name for s in sess.inputs])  # type: ignore[attr-defined]
            ours, theirs = sess.run(xs), bare.run(xs)
            report["same_outputs_as_bare"] = all(np.array_equal(a, b) for a, b in zip(ours, theirs))
            calls["bare TensorRT context"] = lambda: bare.run(xs)  # only once it has run
        except Exception as exc:  # noqa: BLE001 -- reported, the other columns still run
            report["could_not_run"]["bare TensorRT context"] = f"{type(exc).__name__}: {exc}"
    else:
        report["could_not_run"]["bare TensorRT context"] = "needs the engine gpu@tensorrt builds"
    try:
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeError(
                f"this onnxruntime has no CUDA provider (it has {', '.join(ort.get_available_providers())})"
            )
        from mindinfer_onnx.convert import convert

        proto = convert(mindinfer.load(model), 17)
        ort_sess = ort.InferenceSession(proto.SerializeToString(), providers=["CUDAExecutionProvider"])
        if ort_sess.get_providers()[0] != "CUDAExecutionProvider":
            raise RuntimeError(f"onnxruntime fell back to {ort_sess.get_providers()[0]}")
        feeds = {i.name: x for i, x in zip(ort_sess.get_inputs(), xs)}
        calls["onnxruntime CUDA"] = lambda: ort_sess.run(None, feeds)
    except Exception as exc:  # noqa: BLE001
        report["could_not_run"]["onnxruntime CUDA"] = f"{type(exc).__name__}: {exc}"
    _device_io_columns(model, xs, precision, calls, report)
    if not calls:
        return report
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(runs):
        for name, fn in calls.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    report["median_ms"] = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    if "bare TensorRT context" in times:
        ref = times["bare TensorRT context"]
        host_io = ("gpu@tensorrt", "onnxruntime CUDA")
        report["ratio_to_bare"] = {
            k: statistics.median(a / b for a, b in zip(v, ref)) for k, v in times.items() if k in host_io
        }
    if "gpu@tensorrt, GPU in/out" in times and "onnxruntime IO binding" in times:
        pairs = zip(times["gpu@tensorrt, GPU in/out"], times["onnxruntime IO binding"])
        report["gpu_io_ratio_to_onnxruntime_io_binding"] = statistics.median(a / b for a, b in pairs)
    return report


def _device_io_columns(
    model: Path, xs: list[np.ndarray], precision: str, calls: dict[str, Callable[[], Any]], report: dict[str, Any]
) -> None:
    """GPU in, GPU out: gpu@tensorrt with CuPy inputs and outputs_on_gpu, against onnxruntime's IO binding."""
    import mindinfer

    try:
        import cupy as cp
    except ImportError as exc:
        why = f"CuPy is not installed ({exc})"
        report["could_not_run"]["gpu@tensorrt, GPU in/out"] = report["could_not_run"]["onnxruntime IO binding"] = why
        return
    gx = [cp.asarray(x) for x in xs]
    try:
        sess = mindinfer.Session(model, target="gpu@tensorrt", options={"precision": precision, "outputs_on_gpu": True})

        def tensorrt_gpu_io() -> Any:
            outs = sess.run(gx)
            cp.cuda.Device().synchronize()
            return outs

        calls["gpu@tensorrt, GPU in/out"] = tensorrt_gpu_io
    except mindinfer.MindInferError as exc:
        report["could_not_run"]["gpu@tensorrt, GPU in/out"] = str(exc)
    try:
        import onnxruntime as ort
        from mindinfer_onnx.convert import convert

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise RuntimeError("this onnxruntime has no CUDA provider")
        ort_sess = ort.InferenceSession(
            convert(mindinfer.load(model), 17).SerializeToString(), providers=["CUDAExecutionProvider"]
        )
        binding = ort_sess.io_binding()
        for i, x in zip(ort_sess.get_inputs(), gx):
            binding.bind_input(i.name, "cuda", 0, x.dtype, list(x.shape), x.data.ptr)
        for o in ort_sess.get_outputs():
            binding.bind_output(o.name, "cuda")

        def ort_io_binding() -> Any:
            ort_sess.run_with_iobinding(binding)
            return binding.get_outputs()

        calls["onnxruntime IO binding"] = ort_io_binding
    except Exception as exc:  # noqa: BLE001
        report["could_not_run"]["onnxruntime IO binding"] = f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    reports = [bench_model(m, args.runs, args.warmup, args.precision) for m in args.models or default_models()]
    for r in reports:
        print(f"== {r['model']}")
        for name, ms in r.get("median_ms", {}).items():
            ratio = r.get("ratio_to_bare", {}).get(name)
            extra = f"  ({ratio:.3f}x the bare context)" if ratio is not None else ""
            print(f"   {name:<24} {ms:8.3f} ms{extra}")
        if "gpu_io_ratio_to_onnxruntime_io_binding" in r:
            ratio = r["gpu_io_ratio_to_onnxruntime_io_binding"]
            print(f"   GPU in/out: gpu@tensorrt takes {ratio:.3f}x the time of onnxruntime IO binding")
        if "same_outputs_as_bare" in r:
            print(f"   outputs identical to the bare context: {r['same_outputs_as_bare']}")
        for name, why in r["could_not_run"].items():
            print(f"   could not run {name}: {why}")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
