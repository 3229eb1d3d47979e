"""The CUDA layer: device and page-locked memory, streams and copies through cuda-python.

``cuda.bindings.runtime`` is imported when a :class:`CudaRuntime` is made (never at plugin load),
as NVIDIA's own TensorRT samples now do (``samples/python/common_runtime.py``): every call returns
``(error, *results)`` and a non-zero error becomes a :class:`CudaError` naming the call.

Also here: reading arrays that already live on the GPU (``__cuda_array_interface__`` or DLPack) and
:class:`GpuArray`, the outputs handed back on the GPU.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from mindinfer.errors import InvalidInputError, MindInferError

__all__ = [
    "Buffers",
    "CudaAPI",
    "CudaError",
    "CudaRuntime",
    "DeviceView",
    "GpuArray",
    "device_view",
    "host_view",
    "parse_dlpack",
]

PLUGIN = "tensorrt"


class CudaError(MindInferError):
    """A CUDA runtime call failed."""


class CudaAPI(Protocol):
    """What the executable needs from CUDA (the real one is :class:`CudaRuntime`)."""

    def malloc(self, nbytes: int) -> int: ...
    def free(self, ptr: int) -> None: ...
    def malloc_host(self, nbytes: int) -> int: ...
    def free_host(self, ptr: int) -> None: ...
    def stream_create(self) -> int: ...
    def stream_destroy(self, stream: int) -> None: ...
    def stream_sync(self, stream: int) -> None: ...
    def copy_async(self, dst: int, src: int, nbytes: int, kind: str, stream: int) -> None: ...
    def wait_for(self, producer: int, consumer: int) -> None: ...
    def set_device(self) -> None: ...


class CudaRuntime:
    """:class:`CudaAPI` over ``cuda.bindings.runtime`` for one device."""

    def __init__(self, device_index: int = 0) -> None:
        from cuda.bindings import runtime as rt  # lazily: the plugin loads without cuda-python

        self.rt = rt
        self.index = device_index
        self._kinds = {
            "htod": rt.cudaMemcpyKind.cudaMemcpyHostToDevice,
            "dtoh": rt.cudaMemcpyKind.cudaMemcpyDeviceToHost,
            "dtod": rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice,
        }
        self._streams: dict[int, Any] = {}
        self.set_device()

    def _check(self, call: str, result: Any) -> Any:
        err, rest = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        if int(err) != 0:
            name = self.rt.cudaGetErrorName(err)[1]
            text = name.decode() if isinstance(name, bytes) else str(name)
            raise CudaError(f"plugin '{PLUGIN}': CUDA call {call} failed with {text} ({int(err)})")
        return rest[0] if len(rest) == 1 else rest

    def set_device(self) -> None:
        # The current device is per host thread in the CUDA runtime: set it on every thread that runs.
        self._check("cudaSetDevice", self.rt.cudaSetDevice(self.index))

    def malloc(self, nbytes: int) -> int:
        return int(self._check("cudaMalloc", self.rt.cudaMalloc(max(nbytes, 1))))

    def free(self, ptr: int) -> None:
        self._check("cudaFree", self.rt.cudaFree(ptr))

    def malloc_host(self, nbytes: int) -> int:
        return int(self._check("cudaMallocHost", self.rt.cudaMallocHost(max(nbytes, 1))))

    def free_host(self, ptr: int) -> None:
        self._check("cudaFreeHost", self.rt.cudaFreeHost(ptr))

    def stream_create(self) -> int:
        stream = self._check("cudaStreamCreateWithFlags", self.rt.cudaStreamCreateWithFlags(1))  # non-blocking
        handle = _native_handle(stream)
        self._streams[handle] = stream
        return handle

    def stream_destroy(self, stream: int) -> None:
        self._check("cudaStreamDestroy", self.rt.cudaStreamDestroy(self._streams.pop(stream, stream)))

    def stream_sync(self, stream: int) -> None:
        self._check("cudaStreamSynchronize", self.rt.cudaStreamSynchronize(self._streams.get(stream, stream)))

    def copy_async(self, dst: int, src: int, nbytes: int, kind: str, stream: int) -> None:
        if nbytes:
            s = self._streams.get(stream, stream)
            self._check("cudaMemcpyAsync", self.rt.cudaMemcpyAsync(dst, src, nbytes, self._kinds[kind], s))

    def wait_for(self, producer: int, consumer: int) -> None:
        """Make ``consumer`` wait for the work queued so far on ``producer`` (another library's stream)."""
        event = self._check("cudaEventCreateWithFlags", self.rt.cudaEventCreateWithFlags(2))  # no timing
        try:
            self._check("cudaEventRecord", self.rt.cudaEventRecord(event, producer))
            self._check(
                "cudaStreamWaitEvent", self.rt.cudaStreamWaitEvent(self._streams.get(consumer, consumer), event, 0)
            )
        finally:
            self._check("cudaEventDestroy", self.rt.cudaEventDestroy(event))


def _native_handle(obj: Any) -> int:
    # cuda-bindings 13 deprecates int(obj) for handles in favour of utils.get_cuda_native_handle.
    try:
        from cuda.bindings.utils import get_cuda_native_handle

        return int(get_cuda_native_handle(obj))
    except ImportError:
        return int(obj)


def host_view(ptr: int, nbytes: int) -> np.ndarray:
    """A uint8 numpy view of ``nbytes`` at host address ``ptr`` (page-locked staging memory)."""
    return np.frombuffer(memoryview((ctypes.c_ubyte * max(nbytes, 1)).from_address(ptr)), np.uint8, count=nbytes)


class Buffers:
    """The device buffers and page-locked staging buffers of one execution context, by tensor name.

    A buffer is allocated the first time a tensor needs it and reused by every later run; it is only
    replaced when a new shape needs more bytes than it holds.
    """

    def __init__(self, cuda: CudaAPI) -> None:
        self.cuda = cuda
        self._device: dict[str, tuple[int, int]] = {}
        self._pinned: dict[str, tuple[int, int]] = {}
        self.allocations = 0  # counted for tests and the benchmark: steady state allocates nothing

    def device(self, name: str, nbytes: int) -> int:
        ptr, cap = self._device.get(name, (0, -1))
        if cap < nbytes:
            if cap >= 0:
                self.cuda.free(ptr)
            ptr, cap = self.cuda.malloc(nbytes), nbytes
            self._device[name] = (ptr, cap)
            self.allocations += 1
        return ptr

    def pinned(self, name: str, nbytes: int) -> tuple[int, np.ndarray]:
        ptr, cap = self._pinned.get(name, (0, -1))
        if cap < nbytes:
            if cap >= 0:
                self.cuda.free_host(ptr)
            ptr, cap = self.cuda.malloc_host(nbytes), nbytes
            self._pinned[name] = (ptr, cap)
            self.allocations += 1
        return ptr, host_view(ptr, nbytes)

    def free(self) -> None:
        for ptr, _ in self._device.values():
            self.cuda.free(ptr)
        for ptr, _ in self._pinned.values():
            self.cuda.free_host(ptr)
        self._device.clear()
        self._pinned.clear()


@dataclass(frozen=True)
class DeviceView:
    """An array living on the GPU, as seen through its interface: pointer, shape, dtype."""

    ptr: int
    shape: tuple[int, ...]
    dtype: np.dtype
    contiguous: bool
    stream: int | None = None  # the producer's stream to wait for (__cuda_array_interface__ v3)
    owner: Any = None  # keeps a DLPack capsule (and so the memory) alive while in use

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


_DL_CUDA, _DL_CUDA_MANAGED = 2, 13  # DLPack device types this plugin reads from
_DL_CODES = {0: "i", 1: "u", 2: "f", 4: "bfloat", 6: "b"}


def device_view(obj: Any, name: str, consumer_stream: int | None = None) -> DeviceView | None:
    """``obj`` as a :class:`DeviceView` when it lives on the GPU; None for host arrays."""
    if isinstance(obj, np.ndarray):
        return None
    cai = getattr(obj, "__cuda_array_interface__", None)
    if cai is not None:
        shape = tuple(int(d) for d in cai["shape"])
        dtype = np.dtype(cai["typestr"])
        strides = cai.get("strides")
        contiguous = strides is None or tuple(strides) == _c_strides(shape, dtype.itemsize)
        stream = cai.get("stream") if int(cai.get("version", 0)) >= 3 else None
        return DeviceView(int(cai["data"][0]), shape, dtype, contiguous, stream, obj)
    dev = getattr(obj, "__dlpack_device__", None)
    if dev is None:
        return None
    kind, _ = dev()
    if int(kind) not in (_DL_CUDA, _DL_CUDA_MANAGED):
        return None
    try:
        capsule = obj.__dlpack__(stream=consumer_stream) if consumer_stream is not None else obj.__dlpack__()
    except TypeError:
        capsule = obj.__dlpack__()
    ptr, shape, dtype, contiguous, _ = parse_dlpack(capsule, name)
    return DeviceView(ptr, shape, dtype, contiguous, None, capsule)


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


def parse_dlpack(capsule: Any, name: str) -> tuple[int, tuple[int, ...], np.dtype, bool, int]:
    """``(pointer, shape, dtype, C-contiguous, DLPack device type)`` of a ``dltensor`` capsule, borrowed.

    The capsule keeps ownership (its destructor calls the producer's deleter), so the caller keeps
    the capsule alive while the memory is in use. DLManagedTensor starts with its DLTensor, so the
    capsule's pointer is read as a DLTensor.
    """
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    try:
        address = get(capsule, b"dltensor")
    except ValueError as exc:
        raise InvalidInputError(f"plugin '{PLUGIN}': input {name!r}: not a usable DLPack capsule ({exc})") from None
    t = _DLTensor.from_address(address)
    if t.dtype.lanes != 1 or t.dtype.code not in _DL_CODES:
        raise InvalidInputError(f"plugin '{PLUGIN}': input {name!r}: DLPack dtype code {t.dtype.code} is not supported")
    code = _DL_CODES[t.dtype.code]
    if code == "bfloat":
        raise InvalidInputError(f"plugin '{PLUGIN}': input {name!r}: bfloat16 inputs are not supported; pass float32")
    dtype = np.dtype(bool) if code == "b" else np.dtype(f"{code}{t.dtype.bits // 8}")
    shape = tuple(int(t.shape[i]) for i in range(t.ndim))
    contiguous = True
    if t.strides:
        strides = tuple(int(t.strides[i]) for i in range(t.ndim))
        contiguous = all(
            s == e // dtype.itemsize for s, e, d in zip(strides, _c_strides(shape, dtype.itemsize), shape) if d > 1
        )
    return int(t.data or 0) + int(t.byte_offset), shape, dtype, contiguous, int(t.device.device_type)


class GpuArray:
    """An output left on the GPU: hand it to CuPy (``cupy.asarray``) or PyTorch (``torch.as_tensor``).

    It owns its device memory (freed when the object goes away) and exposes it through
    ``__cuda_array_interface__`` (version 3; the producing stream was synchronized already).
    ``numpy()`` copies it to the host.
    """

    def __init__(self, cuda: CudaAPI, ptr: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self._cuda, self.ptr, self.shape, self.dtype = cuda, ptr, tuple(shape), np.dtype(dtype)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (self.ptr, False),
            "version": 3,
            "strides": None,
            "stream": None,
        }

    def numpy(self) -> np.ndarray:
        out = np.empty(self.shape, self.dtype)
        stream = self._cuda.stream_create()
        try:
            self._cuda.copy_async(out.ctypes.data, self.ptr, self.nbytes, "dtoh", stream)
            self._cuda.stream_sync(stream)
        finally:
            self._cuda.stream_destroy(stream)
        return out

    def __del__(self) -> None:
        ptr, self.ptr = getattr(self, "ptr", 0), 0
        if ptr:
            try:
                self._cuda.free(ptr)
            except Exception:  # noqa: BLE001,S110 -- interpreter shutdown: the driver frees it anyway
                pass

    def __repr__(self) -> str:
        return f"GpuArray(shape={self.shape}, dtype={self.dtype}, ptr=0x{self.ptr:x})"
