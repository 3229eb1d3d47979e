"""Which onnxruntime execution providers really work here, found out by running a tiny model on each.

``onnxruntime.get_available_providers()`` lists what the wheel was built with, not what loads: a
CUDA build lists ``CUDAExecutionProvider`` on a machine without libcudart, and onnxruntime then
quietly runs on CPU. So each provider is given a one-node session of its own; it works only if
the session keeps that provider and produces the right answer.
"""

from __future__ import annotations

import ctypes.util
import functools
import warnings
from dataclasses import dataclass

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


@functools.lru_cache(maxsize=1)
def probe() -> tuple[ProviderStatus, ...]:
    """Status of every provider this onnxruntime lists (cached: sessions cost milliseconds)."""
    import onnxruntime as ort

    return tuple(_probe_one(name) for name in ort.get_available_providers())


def _tiny_model() -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    return model.SerializeToString()  # type: ignore[no-any-return]


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
