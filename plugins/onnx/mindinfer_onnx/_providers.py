"""Which onnxruntime execution providers really work here, found out by running a tiny model on each.

``onnxruntime.get_available_providers()`` lists what the wheel was built with, not what loads: a
CUDA build lists ``CUDAExecutionProvider`` on a machine without libcudart, and onnxruntime then
quietly runs on CPU. So each provider is given a one-node session of its own; it works only if
the session keeps that provider and produces the right answer.
"""

from __future__ import annotations

import ctypes.util
import functools
import importlib.util
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Providers that are devices of kind "gpu"; CPU is "cpu"; others (Azure...) are not devices.
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
CPU_PROVIDER = "CPUExecutionProvider"

# Shared libraries each GPU provider needs, with what to install when one is missing.
_NEEDS = {
    "CUDAExecutionProvider": (("cudart", "the CUDA runtime"), ("cublas", "cuBLAS"), ("cudnn", "cuDNN")),
    "TensorrtExecutionProvider": (("nvinfer", "TensorRT"), ("cudart", "the CUDA runtime")),
}


@dataclass(frozen=True)
class ProviderStatus:
    name: str
    works: bool
    reason: str = ""


def missing_runtime() -> str:
    """Why onnxruntime cannot be used at all ("" when it is installed)."""
    if "onnxruntime" in sys.modules or importlib.util.find_spec("onnxruntime") is not None:
        return ""
    return "onnxruntime is not installed; pip install onnxruntime (or onnxruntime-gpu)"


def gpu_listed() -> bool:
    """Whether this onnxruntime was built with a GPU provider, without importing it.

    Importing onnxruntime costs a few hundred milliseconds that a Session on another plugin should
    not pay; a GPU build ships its provider as a shared library next to the runtime
    (``capi/libonnxruntime_providers_cuda.so``, ``..._tensorrt``; ``.dll`` on Windows).
    """
    if "onnxruntime" in sys.modules:
        ort = sys.modules["onnxruntime"]
        return bool(set(ort.get_available_providers()) & set(GPU_PROVIDERS))
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        return False
    capi = Path(next(iter(spec.submodule_search_locations))) / "capi"
    return any(next(capi.glob(f"*onnxruntime_providers_{p}*"), None) for p in ("cuda", "tensorrt"))


@functools.lru_cache(maxsize=1)
def probe() -> tuple[ProviderStatus, ...]:
    """Status of every provider this onnxruntime lists (cached: sessions cost milliseconds)."""
    import onnxruntime as ort

    return tuple(_probe_one(name) for name in ort.get_available_providers())


def _tiny_model() -> bytes:
    from . import _onnx_pb as helper

    x = helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype("float32"), [2])
    y = helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype("float32"), [2])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "probe", [x], [y])
    return helper.make_model(graph, 13).SerializeToString()  # type: ignore[no-any-return]


def _probe_one(name: str) -> ProviderStatus:
    import onnxruntime as ort

    if name not in (CPU_PROVIDER, *GPU_PROVIDERS):
        return ProviderStatus(name, False, "not a compute device provider (mindinfer does not use it)")
    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # the failure is reported below, not printed
    try:
        with warnings.catch_warnings():  # onnxruntime warns on fallback; the status says it instead
            warnings.simplefilter("ignore")
            sess = ort.InferenceSession(_tiny_model(), opts, providers=[name])
    except Exception as exc:  # noqa: BLE001 -- any failure to create it means it does not work
        return ProviderStatus(name, False, f"onnxruntime could not create it: {_first_line(exc)}{_missing_libs(name)}")
    if sess.get_providers()[:1] != [name]:
        return ProviderStatus(
            name,
            False,
            f"onnxruntime lists it but fell back to {sess.get_providers()[0]} when asked for it"
            f"{_missing_libs(name)}; see the onnxruntime install guide for {name}",
        )
    try:
        (y,) = sess.run(None, {"x": np.array([1.0, 2.0], np.float32)})
    except Exception as exc:  # noqa: BLE001
        return ProviderStatus(name, False, f"a test run failed: {_first_line(exc)}")
    if not np.array_equal(y, [2.0, 4.0]):
        return ProviderStatus(name, False, f"a test run computed {y.tolist()} instead of [2.0, 4.0]")
    return ProviderStatus(name, True)


def _missing_libs(name: str) -> str:
    missing = [what for lib, what in _NEEDS.get(name, ()) if ctypes.util.find_library(lib) is None]
    return f" (not on the library search path: {', '.join(missing)})" if missing else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
