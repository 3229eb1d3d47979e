"""Probing what a GPU run needs, for real, each step saying exactly what is missing.

The order is the order a user fixes things in: the NVIDIA driver (``libcuda``, loaded with ctypes
so that the probe needs nothing installed), cuda-python for memory and streams, TensorRT (imported
lazily: ``ImportError`` covers both "not installed" and "bindings without their libraries"), then
whether this TensorRT supports the GPU's architecture. Every probe takes its loader as an argument
so that tests can stand in for each missing piece.
"""

from __future__ import annotations

import ctypes
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

__all__ = [
    "NOT_VERIFIED",
    "SUPPORTED_TRT_MAJORS",
    "CudaPythonProbe",
    "DriverAPI",
    "DriverError",
    "DriverProbe",
    "GpuInfo",
    "LibCuda",
    "TensorRTProbe",
    "arch_problem",
    "nvml_driver_version",
    "parse_version",
    "probe_cuda_python",
    "probe_driver",
    "probe_tensorrt",
]

#: Said by ``mindinfer devices`` and the README: nothing here claims more.
NOT_VERIFIED = "this plugin has not yet been run on a GPU with TensorRT"
SUPPORTED_TRT_MAJORS = (10, 11)
NVIDIA_INDEX = "https://pypi.nvidia.com"
TRT_INSTALL = (
    f"install it from NVIDIA's package index: pip install --extra-index-url {NVIDIA_INDEX} "
    "'tensorrt-cu12>=10' (CUDA 12 driver) or 'tensorrt-cu13>=10.13' (CUDA 13 driver); "
    "PyPI's tensorrt-cuXX-libs are placeholders that download from that index"
)

# cuDeviceGetAttribute codes (CUdevice_attribute in cuda.h).
_CC_MAJOR, _CC_MINOR = 75, 76


class DriverError(Exception):
    """A CUDA driver call failed; ``code`` is the CUresult, ``name`` its symbolic name."""

    def __init__(self, call: str, code: int, name: str) -> None:
        super().__init__(f"{call} failed with {name} ({code})")
        self.call, self.code, self.name = call, code, name


class DriverAPI(Protocol):
    """The few CUDA driver calls the probe needs (the real one is :class:`LibCuda`)."""

    def init(self) -> None: ...
    def driver_version(self) -> int: ...
    def device_count(self) -> int: ...
    def device_name(self, index: int) -> str: ...
    def compute_capability(self, index: int) -> tuple[int, int]: ...
    def total_memory(self, index: int) -> int: ...


class LibCuda:
    """The NVIDIA driver library through ctypes; constructing it raises ``OSError`` when absent."""

    NAMES = ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so")

    def __init__(self) -> None:
        errors = []
        for name in self.NAMES:
            try:
                self._lib = ctypes.CDLL(name)
                self.path = name
                return
            except OSError as exc:
                errors.append(str(exc))
        raise OSError("; ".join(errors))

    def _call(self, fn: str, *args: Any) -> None:
        code = int(getattr(self._lib, fn)(*args))
        if code != 0:
            text = ctypes.c_char_p()
            self._lib.cuGetErrorName(code, ctypes.byref(text))
            raise DriverError(fn, code, (text.value or b"CUDA_ERROR_UNKNOWN").decode())

    def init(self) -> None:
        self._call("cuInit", 0)

    def driver_version(self) -> int:
        v = ctypes.c_int()
        self._call("cuDriverGetVersion", ctypes.byref(v))
        return v.value

    def device_count(self) -> int:
        n = ctypes.c_int()
        self._call("cuDeviceGetCount", ctypes.byref(n))
        return n.value

    def _device(self, index: int) -> ctypes.c_int:
        dev = ctypes.c_int()
        self._call("cuDeviceGet", ctypes.byref(dev), index)
        return dev

    def device_name(self, index: int) -> str:
        buf = ctypes.create_string_buffer(256)
        self._call("cuDeviceGetName", buf, 256, self._device(index))
        return buf.value.decode(errors="replace")

    def compute_capability(self, index: int) -> tuple[int, int]:
        dev, major, minor = self._device(index), ctypes.c_int(), ctypes.c_int()
        self._call("cuDeviceGetAttribute", ctypes.byref(major), _CC_MAJOR, dev)
        self._call("cuDeviceGetAttribute", ctypes.byref(minor), _CC_MINOR, dev)
        return major.value, minor.value

    def total_memory(self, index: int) -> int:
        size = ctypes.c_size_t()
        self._call("cuDeviceTotalMem_v2", ctypes.byref(size), self._device(index))
        return size.value


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    compute_capability: tuple[int, int]
    total_memory: int

    @property
    def sm(self) -> str:
        return f"sm{self.compute_capability[0]}{self.compute_capability[1]}"


@dataclass(frozen=True)
class DriverProbe:
    """GPUs the driver reports; ``problem`` is non-empty when there is no usable driver."""

    gpus: tuple[GpuInfo, ...] = ()
    cuda_version: tuple[int, int] | None = None
    problem: str = ""
    driver_version: str = ""  # the NVIDIA driver's own version (NVML), "" when NVML is not there


def nvml_driver_version() -> str:
    """The NVIDIA driver's version string through NVML (``libnvidia-ml``), or "" when unavailable."""
    name = "nvml.dll" if sys.platform == "win32" else "libnvidia-ml.so.1"
    try:
        lib = ctypes.CDLL(name)
        if lib.nvmlInit_v2() != 0:
            return ""
        try:
            buf = ctypes.create_string_buffer(96)
            return buf.value.decode() if lib.nvmlSystemGetDriverVersion(buf, 96) == 0 else ""
        finally:
            lib.nvmlShutdown()
    except (OSError, AttributeError):
        return ""


def probe_driver(load: Callable[[], DriverAPI] = LibCuda, nvml: Callable[[], str] = nvml_driver_version) -> DriverProbe:
    try:
        api = load()
    except OSError as exc:
        return DriverProbe(
            problem=f"no NVIDIA driver: the CUDA driver library could not be loaded ({exc}); install the "
            "NVIDIA driver for your GPU (https://www.nvidia.com/drivers) -- this plugin runs on NVIDIA GPUs only"
        )
    try:
        raw = api.driver_version()
        version = (raw // 1000, raw % 1000 // 10)
        api.init()
        count = api.device_count()
    except DriverError as exc:
        hint = {
            35: "the driver is older than this CUDA needs; update the NVIDIA driver",
            100: "the driver sees no NVIDIA GPU (check nvidia-smi and CUDA_VISIBLE_DEVICES)",
            999: "the driver failed to initialize (check nvidia-smi and dmesg)",
        }.get(exc.code, "check nvidia-smi")
        return DriverProbe(problem=f"the NVIDIA driver is installed but {exc}: {hint}")
    if count == 0:
        return DriverProbe(cuda_version=version, problem="the NVIDIA driver reports no GPU (check nvidia-smi)")
    gpus = []
    for i in range(count):
        try:
            gpus.append(GpuInfo(i, api.device_name(i), api.compute_capability(i), api.total_memory(i)))
        except DriverError as exc:
            return DriverProbe(cuda_version=version, problem=f"the NVIDIA driver could not describe GPU {i}: {exc}")
    return DriverProbe(tuple(gpus), version, driver_version=nvml())


@dataclass(frozen=True)
class CudaPythonProbe:
    version: str = ""
    problem: str = ""


def probe_cuda_python(
    driver_cuda: tuple[int, int] | None, import_module: Callable[[str], ModuleType] = importlib.import_module
) -> CudaPythonProbe:
    """cuda-python (``cuda.bindings``) carries memory and streams; its CUDA major must not exceed the driver's."""
    try:
        bindings = import_module("cuda.bindings")
        import_module("cuda.bindings.runtime")
    except ImportError as exc:
        return CudaPythonProbe(
            problem=f"cuda-python is not importable ({type(exc).__name__}: {exc}); "
            "pip install 'mindinfer-tensorrt[cu12]' (CUDA 12 driver) or 'mindinfer-tensorrt[cu13]' (CUDA 13 driver)"
        )
    version = str(getattr(bindings, "__version__", "?"))
    major = parse_version(version)[0]
    if driver_cuda is not None and major > driver_cuda[0]:
        return CudaPythonProbe(
            version,
            f"cuda-bindings {version} is built for CUDA {major} but the driver supports CUDA "
            f"{driver_cuda[0]}.{driver_cuda[1]}; pip install 'cuda-bindings<{major}' or update the NVIDIA driver",
        )
    return CudaPythonProbe(version)


@dataclass(frozen=True)
class TensorRTProbe:
    module: ModuleType | None = None
    version: str = ""
    problem: str = ""


def probe_tensorrt(import_module: Callable[[str], ModuleType] = importlib.import_module) -> TensorRTProbe:
    """Import ``tensorrt`` lazily and say exactly what is wrong when it does not import or is too old."""
    try:
        trt = import_module("tensorrt")
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if isinstance(exc, ModuleNotFoundError) and missing in ("tensorrt", None):
            return TensorRTProbe(problem=f"tensorrt is not installed; {TRT_INSTALL}")
        # The bindings wheel imports, but libnvinfer/libnvonnxparser (the -libs wheel) do not load.
        return TensorRTProbe(
            problem=f"tensorrt's Python bindings are installed but its libraries are missing ({exc}); install "
            f"the matching tensorrt-cuXX-libs of the same version from {NVIDIA_INDEX}, or put TensorRT's lib "
            "folder on LD_LIBRARY_PATH"
        )
    except Exception as exc:  # noqa: BLE001 -- any import-time failure is a reason, never a crash
        return TensorRTProbe(problem=f"import tensorrt failed: {type(exc).__name__}: {exc}")
    if not hasattr(trt, "Builder"):
        where = getattr(trt, "__file__", None) or list(getattr(trt, "__path__", []))
        return TensorRTProbe(
            problem=f"the module named tensorrt that Python finds ({where}) is not NVIDIA TensorRT; rename or remove "
            f"it, then {TRT_INSTALL}"
        )
    version = str(getattr(trt, "__version__", "0"))
    if parse_version(version)[0] not in SUPPORTED_TRT_MAJORS:
        return TensorRTProbe(
            None,
            version,
            f"TensorRT {version} is installed, but this plugin needs TensorRT 10.x or 11.x "
            "(it uses the name-based tensor API of TensorRT 10+); " + TRT_INSTALL,
        )
    return TensorRTProbe(trt, version)


def parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or (0,)


def arch_problem(cc: tuple[int, int], trt_version: str) -> str:
    """Why this TensorRT cannot build for compute capability ``cc`` ("" when it can).

    From NVIDIA's support matrices: TensorRT 10.0 supports SM 7.0 and newer and deprecates Volta
    (7.0) for removal after September 2024 (10.0.1 release notes), later 10.x and 11.x need 7.5
    (Turing); Blackwell (10.0, 12.x) arrived in 10.8. TensorRT's own builder has the last word:
    its refusal is reported too.
    """
    version = parse_version(trt_version)
    minimum = (7, 0) if version < (10, 5) else (7, 5)
    label = f"{cc[0]}.{cc[1]}"
    if cc < minimum:
        return (
            f"the GPU's compute capability {label} is not supported by TensorRT {trt_version} "
            f"(it needs {minimum[0]}.{minimum[1]} or newer); use an older TensorRT that supports it or another GPU"
        )
    if version < (10, 8) and cc >= (10, 0):
        return (
            f"the GPU's compute capability {label} (Blackwell or newer) is not supported by TensorRT "
            f"{trt_version}; install TensorRT 10.8 or newer"
        )
    return ""
