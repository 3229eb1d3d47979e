"""An ACL **simulator**: the pyACL calls mindinfer's ascend plugin makes, run on the CPU.

Not CANN, and not a model of an NPU's speed or numerics. It stands in for the ``acl`` module when
``MINDINFER_ASCEND_SIMULATOR`` is set (``1`` or a SoC name such as ``Ascend310P3``; the number of
devices comes from ``MINDINFER_ASCEND_SIMULATOR_DEVICES``, default 1), so that the plugin's whole
lifecycle can be tested where no Ascend hardware exists.

It keeps pyACL's conventions (``hicann/runtime`` ``python/pyACL``): handles and pointers are plain ints,
a call returns ``ret`` or ``(value, ret)``, 0 is success, and the error codes are CANN's. It enforces
CANN's rules and answers a broken one with the code CANN documents, recording it in
:func:`sim_violations` as well:

* ``acl.init`` before anything, once per process; ``acl.finalize`` last, with nothing left alive;
* a context current in the *calling thread* for memory, model and execution calls (``set_device``
  makes the device's default context current in that thread only);
* dataset buffers sized exactly as the model description says, on the model's device;
* a dynamic-batch model executes only after ``set_dynamic_batch_size`` wrote a compiled gear into its
  ``ascend_mbatch_shape_data`` buffer;
* every malloc freed, every data buffer, dataset and description destroyed, every model unloaded
  (:func:`sim_leaks`).

Device memory is real host memory (``ctypes``), so copies move real bytes. The model is the
simulated ``.om`` the ATC simulator writes; its ONNX graph runs with onnxruntime. Precision modes
that lower precision round weights, inputs and outputs to float16 (storage only, not the Cube unit's
arithmetic). Functions named ``sim_*`` are the simulator's own controls, not pyACL.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from .._acl import SIMULATOR_ENV
from . import simulated_om

DEVICES_ENV = "MINDINFER_ASCEND_SIMULATOR_DEVICES"
DEFAULT_SOC = "Ascend910B3"
MEMORY_BYTES = 32 * 2**30
MBATCH_INPUT = "ascend_mbatch_shape_data"
#: ``--precision_mode`` values that keep fp32 (everything else is simulated as fp16 storage).
_FP32_MODES = ("must_keep_origin_dtype",)
_NP_TO_ACL = {"float32": 0, "float16": 1, "int8": 2, "int32": 3, "uint8": 4, "int16": 6, "uint16": 7,
              "uint32": 8, "int64": 9, "uint64": 10, "float64": 11, "bool": 12}  # fmt: skip

# CANN error codes (acl_base.h, ge_error_codes.h, rt_error_codes.h).
INVALID_PARAM, UNINITIALIZE, REPEAT_INITIALIZE = 100000, 100001, 100002
INVALID_MODEL_ID, DESERIALIZE_MODEL = 100011, 100012
MODEL_INPUT_NOT_MATCH, MODEL_OUTPUT_NOT_MATCH, MODEL_NOT_DYNAMIC = 100017, 100018, 100019
REPEAT_FINALIZE, RESOURCE_NOT_CLEARED = 100037, 148051
INVALID_RESOURCE_HANDLE = 200005
GE_MODEL_PATH_INVALID, GE_DATA_SIZE_INVALID, GE_BATCH_SIZE_INVALID = 145002, 145006, 145013
RT_PARAM_INVALID, RT_INVALID_DEVICEID, RT_CONTEXT_NULL, RT_MODEL_CONTEXT = 107000, 107001, 107002, 107004
RT_SOC_VERSION, RT_MODEL_EXECUTE = 507008, 507011


class _Err(Exception):
    def __init__(self, code: int, message: str, violation: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.violation = code, message, violation


@dataclass
class _Model:
    model_id: int
    device: int
    path: str
    header: dict[str, Any]
    session: Any
    input_names: list[str]
    in_dims: list[tuple[int, ...]]
    in_dtypes: list[np.dtype[Any]]
    out_names: list[str]
    out_dims: list[tuple[int, ...]]
    out_dtypes: list[np.dtype[Any]]
    gears: tuple[int, ...]
    lowered: bool
    cur_dims: list[tuple[int, ...]] | None = None

    @property
    def n_inputs(self) -> int:
        return len(self.input_names) + (1 if self.gears else 0)

    def input_size(self, i: int) -> int:
        if i == len(self.input_names):
            return 8  # the simulator stores the batch as one int64
        return _nbytes(self.in_dims[i], self.in_dtypes[i], self.gears)

    def output_size(self, i: int) -> int:
        return _nbytes(self.out_dims[i], self.out_dtypes[i], self.gears)


def _nbytes(dims: tuple[int, ...], dtype: np.dtype[Any], gears: tuple[int, ...]) -> int:
    biggest = max(gears, default=1)
    return int(np.prod([biggest if d < 0 else d for d in dims], dtype=np.int64)) * dtype.itemsize


@dataclass
class _State:
    soc: str = DEFAULT_SOC
    device_count: int = 1
    run_mode: int = 1  # ACL_HOST; 0 is ACL_DEVICE (the program runs on the board's own CPU)
    initialized: bool = False
    init_calls: int = 0
    device_sets: dict[int, int] = field(default_factory=dict)
    default_ctx: dict[int, int] = field(default_factory=dict)
    contexts: dict[int, int] = field(default_factory=dict)  # handle -> device
    device_mem: dict[int, tuple[Any, int, int]] = field(default_factory=dict)  # addr -> (buffer, size, device)
    host_mem: dict[int, tuple[Any, int]] = field(default_factory=dict)
    host_views: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # bytes_to_ptr results
    data_buffers: dict[int, tuple[int, int]] = field(default_factory=dict)
    datasets: dict[int, list[int]] = field(default_factory=dict)
    descs: dict[int, int | None] = field(default_factory=dict)
    models: dict[int, _Model] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    faults: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    next_handle: int = 0x5000
    next_model: int = 0
    calls: list[str] = field(default_factory=list)

    def handle(self) -> int:
        self.next_handle += 16
        return self.next_handle


_LOCK = threading.RLock()
_TLS = threading.local()
_S = _State()


def _env_soc() -> str:
    text = os.environ.get(SIMULATOR_ENV, "").strip()
    return text if text.lower().startswith("ascend") else DEFAULT_SOC


def sim_reset(soc: str | None = None, devices: int | None = None, run_mode: int = 1, legacy_util: bool = False) -> None:
    """Forget everything (a new simulated process): SoC and device count from the arguments or env;
    ``run_mode`` 0 simulates a program running on the board itself (ACL_DEVICE); ``legacy_util`` an
    older pyACL whose ``acl.util`` has only ``numpy_to_ptr`` / ``ptr_to_numpy``."""
    global _S, util
    with _LOCK:
        if "_util" in globals():
            util = _util(legacy_util)
        count = devices if devices is not None else int(os.environ.get(DEVICES_ENV, "1") or 1)
        _S = _State(soc=soc or _env_soc(), device_count=count, run_mode=run_mode)
        _TLS.__dict__.clear()


def sim_fail(call: str, code: int, message: str = "", times: int = 1) -> None:
    """Make the next ``times`` calls of ``call`` (e.g. ``"acl.mdl.execute"``) return ``code``."""
    with _LOCK:
        _S.faults.setdefault(call, []).extend([(code, message or f"simulated failure of {call}")] * times)


def sim_leaks() -> list[str]:
    """Every resource still alive: what a clean shutdown must have released."""
    with _LOCK:
        leaks = [f"device memory {a:#x} ({s} bytes)" for a, (_, s, _) in _S.device_mem.items()]
        leaks += [f"host memory {a:#x} ({s} bytes)" for a, (_, s) in _S.host_mem.items()]
        leaks += [f"data buffer {h:#x}" for h in _S.data_buffers]
        leaks += [f"dataset {h:#x}" for h in _S.datasets]
        leaks += [f"model description {h:#x}" for h in _S.descs]
        leaks += [f"model {m} ({_S.models[m].path})" for m in _S.models]
        leaks += [f"context {h:#x} on device {d}" for h, d in _S.contexts.items()]
        leaks += [f"device {d} set {n} time(s) without reset" for d, n in _S.device_sets.items() if n]
        return leaks


def sim_violations() -> list[str]:
    """Every CANN rule broken so far, in order."""
    with _LOCK:
        return list(_S.violations)


def sim_calls() -> list[str]:
    """The name of every pyACL call made so far, in order."""
    with _LOCK:
        return list(_S.calls)


def sim_state() -> dict[str, Any]:
    with _LOCK:
        return {"initialized": _S.initialized, "soc": _S.soc, "devices": _S.device_count, "models": len(_S.models)}


# -- call machinery -----------------------------------------------------------------------------------
def _api(name: str, values: int, *, init: bool = True, ctx: bool = False, fallback: Any = 0) -> Callable[..., Any]:
    """Wrap a simulated call: fault injection, the init and context rules, pyACL's return shapes.

    ``values`` is how many values precede ``ret`` (0: returns ``ret``); ``-1`` marks calls that
    return a value only (no ``ret``): their failures return ``fallback`` and are recorded as violations.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def call(*args: Any) -> Any:
            with _LOCK:
                _S.calls.append(name)
                try:
                    faults = _S.faults.get(name)
                    if faults:
                        code, message = faults.pop(0)
                        raise _Err(code, message)
                    if init and not _S.initialized:
                        raise _Err(UNINITIALIZE, f"{name} called before acl.init", violation=True)
                    if ctx and _current() is None:
                        raise _Err(RT_CONTEXT_NULL, f"{name}: no context is current in this thread", violation=True)
                    try:
                        result = fn(*args)
                    except (KeyError, IndexError) as exc:  # an unknown handle, as CANN would refuse it
                        raise _Err(INVALID_PARAM, f"{name}: invalid handle or index {exc}", violation=True) from exc
                except _Err as err:
                    _TLS.error = err.message
                    if err.violation or values < 0:
                        _S.violations.append(f"{name}: {err.message} (code {err.code})")
                    if values < 0:
                        return fallback
                    return err.code if values == 0 else (*([0] * values), err.code)
            if values < 0:
                return result
            if values == 0:
                return 0
            return (*result, 0) if values > 1 else (result, 0)

        return call

    return deco


def _current() -> int | None:
    handle = getattr(_TLS, "ctx", None)
    return handle if handle in _S.contexts or handle in _S.default_ctx.values() else None


def _current_device() -> int:
    handle = _current()
    if handle is None:
        raise _Err(RT_CONTEXT_NULL, "no context is current in this thread", violation=True)
    if handle in _S.contexts:
        return _S.contexts[handle]
    return next(d for d, h in _S.default_ctx.items() if h == handle)


def _device_block(ptr: int, size: int, what: str) -> int:
    """The device owning ``[ptr, ptr + size)``; an error if it is not device memory."""
    for addr, (_, length, device) in _S.device_mem.items():
        if addr <= ptr and ptr + size <= addr + length:
            return device
    raise _Err(INVALID_PARAM, f"{what}: {size} bytes at {ptr:#x} are not device memory from acl.rt.malloc", True)


def _is_host(ptr: int, size: int, writable: bool) -> bool:
    try:
        _host_block(ptr, size, "", writable)
    except _Err:
        return False
    return True


def _host_block(ptr: int, size: int, what: str, writable: bool) -> None:
    for addr, (_, length) in _S.host_mem.items():
        if addr <= ptr and ptr + size <= addr + length:
            return
    view = _S.host_views.get(ptr)
    if view is not None and not writable and size <= view[1]:
        return
    kind = "acl.rt.malloc_host memory" + ("" if writable else " or an acl.util.bytes_to_ptr pointer")
    # Checked so that the simulator never touches memory it does not know (it cannot segfault for a bug).
    raise _Err(INVALID_PARAM, f"{what}: {size} bytes at {ptr:#x} are not {kind}", True)


# -- acl.* --------------------------------------------------------------------------------------------
@_api("acl.init", 0, init=False)
def init(config_path: str | None = None) -> None:
    if _S.init_calls:
        raise _Err(REPEAT_INITIALIZE, "acl.init may be called only once per process", violation=True)
    _S.init_calls += 1
    _S.initialized = True


@_api("acl.finalize", 0, init=False)
def finalize() -> None:
    if not _S.initialized:
        raise _Err(REPEAT_FINALIZE, "acl.finalize without acl.init (or twice)", violation=True)
    leaks = sim_leaks()
    _S.initialized = False
    if leaks:
        raise _Err(RESOURCE_NOT_CLEARED, "acl.finalize while resources are alive: " + "; ".join(leaks), True)


def get_recent_err_msg() -> str:
    return str(getattr(_TLS, "error", ""))


@_api("acl.get_soc_name", -1, fallback=None)
def get_soc_name() -> str:
    return _S.soc


@_api("acl.get_version", 3)
def get_version() -> tuple[int, int, int]:
    return (1, 0, 0)


@_api("acl.create_data_buffer", -1)
def create_data_buffer(ptr: int, size: int) -> int:
    handle = _S.handle()
    _S.data_buffers[handle] = (int(ptr), int(size))
    return handle


@_api("acl.destroy_data_buffer", 0)
def destroy_data_buffer(handle: int) -> None:
    if _S.data_buffers.pop(handle, None) is None:
        raise _Err(INVALID_PARAM, f"data buffer {handle:#x} does not exist")


@_api("acl.get_data_buffer_addr", -1)
def get_data_buffer_addr(handle: int) -> int:
    return _S.data_buffers[handle][0]


@_api("acl.get_data_buffer_size", -1)
def get_data_buffer_size(handle: int) -> int:
    return _S.data_buffers[handle][1]


# -- acl.rt.* -----------------------------------------------------------------------------------------
@_api("acl.rt.get_device_count", 1)
def _get_device_count() -> int:
    return _S.device_count


@_api("acl.rt.set_device", 0)
def _set_device(device: int) -> None:
    if not 0 <= device < _S.device_count:
        raise _Err(RT_INVALID_DEVICEID, f"device {device} does not exist ({_S.device_count} device(s))")
    _S.device_sets[device] = _S.device_sets.get(device, 0) + 1
    if device not in _S.default_ctx:
        _S.default_ctx[device] = _S.handle()
    _TLS.ctx = _S.default_ctx[device]  # CANN: set_device makes the default context current here


@_api("acl.rt.reset_device", 0)
def _reset_device(device: int) -> None:
    if not _S.device_sets.get(device):
        raise _Err(RT_INVALID_DEVICEID, f"device {device} was not set", violation=True)
    _S.device_sets[device] -= 1
    if _S.device_sets[device] == 0:
        alive = [h for h, d in _S.contexts.items() if d == device]
        if alive:
            _S.violations.append(f"acl.rt.reset_device({device}) while its context(s) {alive} are alive")
        _S.default_ctx.pop(device, None)


@_api("acl.rt.create_context", 1)
def _create_context(device: int) -> int:
    if not 0 <= device < _S.device_count:
        raise _Err(RT_INVALID_DEVICEID, f"device {device} does not exist")
    handle = _S.handle()
    _S.contexts[handle] = device
    _TLS.ctx = handle
    return handle


@_api("acl.rt.set_context", 0)
def _set_context(handle: int) -> None:
    if handle not in _S.contexts:
        raise _Err(INVALID_RESOURCE_HANDLE, f"context {handle:#x} does not exist")
    _TLS.ctx = handle


@_api("acl.rt.destroy_context", 0)
def _destroy_context(handle: int) -> None:
    device = _S.contexts.pop(handle, None)
    if device is None:
        raise _Err(INVALID_RESOURCE_HANDLE, f"context {handle:#x} does not exist")
    live = [m for m in _S.models.values() if m.device == device]
    if live and not any(d == device for d in _S.contexts.values()):
        _S.violations.append(
            f"context of device {device} destroyed while model(s) {[m.model_id for m in live]} are loaded"
        )
    if getattr(_TLS, "ctx", None) == handle:
        _TLS.ctx = None


@_api("acl.rt.malloc", 1, ctx=True)
def _malloc(size: int, policy: int) -> int:
    if size <= 0:
        raise _Err(INVALID_PARAM, f"acl.rt.malloc of {size} bytes")
    buf = ctypes.create_string_buffer(int(size))
    addr = ctypes.addressof(buf)
    _S.device_mem[addr] = (buf, int(size), _current_device())
    return addr


@_api("acl.rt.free", 0, ctx=True)
def _free(ptr: int) -> None:
    if _S.device_mem.pop(ptr, None) is None:
        raise _Err(RT_PARAM_INVALID, f"acl.rt.free of {ptr:#x}, which acl.rt.malloc did not return (or was freed)")


@_api("acl.rt.malloc_host", 1, ctx=True)
def _malloc_host(size: int) -> int:
    buf = ctypes.create_string_buffer(int(size))
    addr = ctypes.addressof(buf)
    _S.host_mem[addr] = (buf, int(size))
    return addr


@_api("acl.rt.free_host", 0, ctx=True)
def _free_host(ptr: int) -> None:
    if _S.host_mem.pop(ptr, None) is None:
        raise _Err(RT_PARAM_INVALID, f"acl.rt.free_host of {ptr:#x}, which acl.rt.malloc_host did not return")


@_api("acl.rt.memcpy", 0, ctx=True)
def _memcpy(dst: int, dst_max: int, src: int, count: int, kind: int) -> None:
    if count > dst_max:
        raise _Err(INVALID_PARAM, f"acl.rt.memcpy of {count} bytes into a {dst_max}-byte destination", True)
    on_board = _S.run_mode == 0
    if on_board and kind in (1, 2):
        # With ACL_DEVICE every buffer is device memory; Ascend's samples copy device-to-device there.
        raise _Err(INVALID_PARAM, f"memcpy kind {kind} in the ACL_DEVICE run mode (use 3, device to device)", True)
    if kind == 1:  # host to device
        _device_block(dst, dst_max, "memcpy destination")
        _host_block(src, count, "memcpy source", writable=False)
    elif kind == 2:  # device to host
        _device_block(src, count, "memcpy source")
        _host_block(dst, dst_max, "memcpy destination", writable=True)
    elif kind == 3:
        # On the board, program memory (malloc_host, Python bytes) is device memory too.
        if not (on_board and _is_host(dst, dst_max, writable=True)):
            _device_block(dst, dst_max, "memcpy destination")
        if not (on_board and _is_host(src, count, writable=False)):
            _device_block(src, count, "memcpy source")
    else:
        raise _Err(INVALID_PARAM, f"the simulator does not copy memcpy kind {kind}")
    ctypes.memmove(dst, src, count)
    _S.host_views.pop(src, None)


@_api("acl.rt.get_mem_info", 2, ctx=True)
def _get_mem_info(attr: int) -> tuple[int, int]:
    hbm = _S.soc.lower().startswith("ascend910")
    if attr == (1 if hbm else 0):
        used = sum(s for _, s, _ in _S.device_mem.values())
        return MEMORY_BYTES - used, MEMORY_BYTES
    return 0, 0


@_api("acl.rt.get_run_mode", 1)
def _get_run_mode() -> int:
    return _S.run_mode


rt = SimpleNamespace(
    get_device_count=_get_device_count,
    set_device=_set_device,
    reset_device=_reset_device,
    create_context=_create_context,
    set_context=_set_context,
    destroy_context=_destroy_context,
    malloc=_malloc,
    free=_free,
    malloc_host=_malloc_host,
    free_host=_free_host,
    memcpy=_memcpy,
    get_mem_info=_get_mem_info,
    get_run_mode=_get_run_mode,
)


# -- acl.util.* ---------------------------------------------------------------------------------------
def _bytes_to_ptr(data: bytes) -> int:
    if not isinstance(data, bytes):
        raise ValueError("needs an byte as argument")  # noqa: TRY004 -- pyACL raises exactly this (util/bytes_convert.cpp)
    addr = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
    with _LOCK:
        _S.host_views[addr] = (data, len(data))  # held until a memcpy reads it
    return addr


@_api("acl.util.ptr_to_bytes", -1, fallback=b"")
def _ptr_to_bytes(ptr: int, size: int) -> bytes:
    _host_block(ptr, size, "acl.util.ptr_to_bytes", writable=True)
    return ctypes.string_at(ptr, size)


def _numpy_to_ptr(array: np.ndarray) -> int:
    """Older pyACL's way to a host pointer (deprecated since, yet the only one before bytes_to_ptr)."""
    if not isinstance(array, np.ndarray) or not array.flags["C_CONTIGUOUS"]:
        raise ValueError("acl.util.numpy_to_ptr needs a C-contiguous numpy array")
    with _LOCK:
        _S.host_views[array.ctypes.data] = (array, array.nbytes)  # type: ignore[assignment]
    return int(array.ctypes.data)


@_api("acl.util.ptr_to_numpy", -1, fallback=None)
def _ptr_to_numpy(ptr: int, shape: tuple[int, ...], npy_type: int) -> np.ndarray:
    if npy_type != 2:  # NPY_UBYTE: the only type the simulator hands out
        raise _Err(INVALID_PARAM, f"the simulator's ptr_to_numpy takes npy_type 2 (uint8), got {npy_type}", True)
    size = int(np.prod(shape, dtype=np.int64))
    _host_block(ptr, size, "acl.util.ptr_to_numpy", writable=True)
    return np.frombuffer(ctypes.string_at(ptr, size), dtype=np.uint8).reshape(shape)


def _util(legacy: bool) -> SimpleNamespace:
    if legacy:  # pyACL before bytes_to_ptr / ptr_to_bytes (CANN 5.x)
        return SimpleNamespace(numpy_to_ptr=_numpy_to_ptr, ptr_to_numpy=_ptr_to_numpy)
    return SimpleNamespace(
        bytes_to_ptr=_bytes_to_ptr, ptr_to_bytes=_ptr_to_bytes, numpy_to_ptr=_numpy_to_ptr, ptr_to_numpy=_ptr_to_numpy
    )


util = _util(legacy=False)


# -- acl.mdl.* ----------------------------------------------------------------------------------------
def _model(model_id: int) -> _Model:
    model = _S.models.get(model_id)
    if model is None:
        raise _Err(INVALID_MODEL_ID, f"model id {model_id} is not loaded")
    return model


def _desc_model(desc: int) -> _Model:
    if desc not in _S.descs:
        raise _Err(INVALID_PARAM, f"model description {desc:#x} does not exist")
    model_id = _S.descs[desc]
    if model_id is None:
        raise _Err(INVALID_PARAM, f"model description {desc:#x} was never filled by acl.mdl.get_desc")
    return _model(model_id)


@_api("acl.mdl.load_from_file", 1, ctx=True)
def _load_from_file(path: str) -> int:
    if not os.path.isfile(path):
        raise _Err(GE_MODEL_PATH_INVALID, f"model file {path} does not exist")
    parsed = simulated_om.read(path)
    if parsed is None:
        raise _Err(DESERIALIZE_MODEL, f"{path} is not a simulated .om (a real .om needs real CANN)")
    header, onnx_bytes = parsed
    if header.get("soc_version") != _S.soc:
        raise _Err(RT_SOC_VERSION, f"{path} was compiled for {header.get('soc_version')}, the device is {_S.soc}")
    _S.next_model += 1
    model = _build_model(_S.next_model, _current_device(), path, header, onnx_bytes)
    _S.models[model.model_id] = model
    return model.model_id


def _build_model(model_id: int, device: int, path: str, header: dict[str, Any], onnx_bytes: bytes) -> _Model:
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    proto = onnx.load_from_string(onnx_bytes)
    lowered = header.get("precision_mode") not in _FP32_MODES
    if lowered:  # fp16 storage of the weights (see the module docstring)
        for t in proto.graph.initializer:
            if t.data_type == onnx.TensorProto.FLOAT:
                t.CopyFrom(numpy_helper.from_array(_fp16(numpy_helper.to_array(t)), t.name))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    shapes = {i["name"]: tuple(i["shape"]) for i in header["inputs"]}
    names = [i.name for i in session.get_inputs()]
    in_dtypes = [np.dtype(onnx.helper.tensor_dtype_to_np_dtype(_elem(proto, n))) for n in names]
    gears = tuple(sorted(header.get("batch_sizes") or ()))
    model = _Model(model_id, device, path, header, session, names, [shapes[n] for n in names], in_dtypes,
                   [o.name for o in session.get_outputs()], [], [], gears, lowered)  # fmt: skip
    # ATC knows every output shape statically; the simulator learns them by running the graph on ones
    # (not zeros: integer division) at the smallest and largest gear (a dimension following the gear is
    # the batch, -1).
    runs = [_infer(model, [np.ones(_at(d, g), t) for d, t in zip(model.in_dims, in_dtypes)]) for g in gears or (None,)]
    first, last = runs[0], runs[-1]
    model.out_dtypes = [o.dtype for o in first]
    model.out_dims = [tuple(-1 if a != b else a for a, b in zip(x.shape, y.shape)) for x, y in zip(first, last)]
    return model


def _elem(proto: Any, name: str) -> int:
    return int(next(i.type.tensor_type.elem_type for i in proto.graph.input if i.name == name))


def _at(dims: tuple[int, ...], gear: int | None) -> tuple[int, ...]:
    return tuple(gear if d < 0 and gear is not None else d for d in dims)


def _fp16(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float16).astype(np.float32) if a.dtype == np.float32 else a


def _infer(model: _Model, arrays: list[np.ndarray]) -> list[np.ndarray]:
    if model.lowered:
        arrays = [_fp16(a) for a in arrays]
    outs = model.session.run(None, dict(zip(model.input_names, arrays)))
    return [_fp16(np.asarray(o)) if model.lowered else np.asarray(o) for o in outs]


@_api("acl.mdl.unload", 0, ctx=True)
def _unload(model_id: int) -> None:
    _model(model_id)
    del _S.models[model_id]


@_api("acl.mdl.create_desc", -1)
def _create_desc() -> int:
    handle = _S.handle()
    _S.descs[handle] = None
    return handle


@_api("acl.mdl.destroy_desc", 0)
def _destroy_desc(desc: int) -> None:
    if desc not in _S.descs:
        raise _Err(INVALID_PARAM, f"model description {desc:#x} does not exist")
    del _S.descs[desc]


@_api("acl.mdl.get_desc", 0)
def _get_desc(desc: int, model_id: int) -> None:
    if desc not in _S.descs:
        raise _Err(INVALID_PARAM, f"model description {desc:#x} does not exist")
    _model(model_id)
    _S.descs[desc] = model_id


@_api("acl.mdl.get_num_inputs", -1)
def _get_num_inputs(desc: int) -> int:
    return _desc_model(desc).n_inputs


@_api("acl.mdl.get_num_outputs", -1)
def _get_num_outputs(desc: int) -> int:
    return len(_desc_model(desc).out_names)


def _check_index(model: _Model, i: int, n: int, kind: str) -> None:
    if not 0 <= i < n:
        raise _Err(INVALID_PARAM, f"{kind} index {i} out of range (the model has {n})")


@_api("acl.mdl.get_input_size_by_index", -1)
def _get_input_size_by_index(desc: int, i: int) -> int:
    model = _desc_model(desc)
    _check_index(model, i, model.n_inputs, "input")
    return model.input_size(i)


@_api("acl.mdl.get_output_size_by_index", -1)
def _get_output_size_by_index(desc: int, i: int) -> int:
    model = _desc_model(desc)
    _check_index(model, i, len(model.out_names), "output")
    return model.output_size(i)


def _dims(name: str, dims: tuple[int, ...]) -> dict[str, Any]:
    return {"name": name, "dimCount": len(dims), "dims": list(dims)}


@_api("acl.mdl.get_input_dims", 1)
def _get_input_dims(desc: int, i: int) -> dict[str, Any]:
    model = _desc_model(desc)
    _check_index(model, i, model.n_inputs, "input")
    if i == len(model.input_names):
        return _dims(MBATCH_INPUT, (1,))
    return _dims(model.input_names[i], model.in_dims[i])


@_api("acl.mdl.get_output_dims", 1)
def _get_output_dims(desc: int, i: int) -> dict[str, Any]:
    model = _desc_model(desc)
    _check_index(model, i, len(model.out_names), "output")
    return _dims(model.out_names[i], model.out_dims[i])


@_api("acl.mdl.get_cur_output_dims", 1)
def _get_cur_output_dims(desc: int, i: int) -> dict[str, Any]:
    model = _desc_model(desc)
    _check_index(model, i, len(model.out_names), "output")
    if model.cur_dims is None:
        raise _Err(INVALID_PARAM, "acl.mdl.get_cur_output_dims before any acl.mdl.execute")
    return _dims(model.out_names[i], model.cur_dims[i])


@_api("acl.mdl.get_input_name_by_index", -1, fallback="")
def _get_input_name_by_index(desc: int, i: int) -> str:
    model = _desc_model(desc)
    _check_index(model, i, model.n_inputs, "input")
    return MBATCH_INPUT if i == len(model.input_names) else model.input_names[i]


@_api("acl.mdl.get_output_name_by_index", -1, fallback="")
def _get_output_name_by_index(desc: int, i: int) -> str:
    model = _desc_model(desc)
    _check_index(model, i, len(model.out_names), "output")
    return model.out_names[i]


@_api("acl.mdl.get_input_data_type", -1, fallback=-1)
def _get_input_data_type(desc: int, i: int) -> int:
    model = _desc_model(desc)
    _check_index(model, i, model.n_inputs, "input")
    return 9 if i == len(model.input_names) else _NP_TO_ACL[model.in_dtypes[i].name]


@_api("acl.mdl.get_output_data_type", -1, fallback=-1)
def _get_output_data_type(desc: int, i: int) -> int:
    model = _desc_model(desc)
    _check_index(model, i, len(model.out_names), "output")
    return _NP_TO_ACL[model.out_dtypes[i].name]


@_api("acl.mdl.get_input_index_by_name", 1)
def _get_input_index_by_name(desc: int, name: str) -> int:
    model = _desc_model(desc)
    if name == MBATCH_INPUT and model.gears:
        return len(model.input_names)
    if name in model.input_names:
        return model.input_names.index(name)
    raise _Err(INVALID_PARAM, f"the model has no input named {name!r}")


@_api("acl.mdl.get_dynamic_batch", 1)
def _get_dynamic_batch(desc: int) -> dict[str, Any]:
    model = _desc_model(desc)
    return {"batchCount": len(model.gears), "batch": list(model.gears)}


@_api("acl.mdl.create_dataset", -1)
def _create_dataset() -> int:
    handle = _S.handle()
    _S.datasets[handle] = []
    return handle


@_api("acl.mdl.destroy_dataset", 0)
def _destroy_dataset(dataset: int) -> None:
    if _S.datasets.pop(dataset, None) is None:
        raise _Err(INVALID_PARAM, f"dataset {dataset:#x} does not exist")


@_api("acl.mdl.add_dataset_buffer", 1)
def _add_dataset_buffer(dataset: int, buf: int) -> int:
    if dataset not in _S.datasets or buf not in _S.data_buffers:
        raise _Err(INVALID_PARAM, f"dataset {dataset:#x} or data buffer {buf:#x} does not exist")
    _S.datasets[dataset].append(buf)
    return dataset


@_api("acl.mdl.get_dataset_buffer", -1)
def _get_dataset_buffer(dataset: int, i: int) -> int:
    return _S.datasets[dataset][i]


@_api("acl.mdl.get_dataset_num_buffers", -1)
def _get_dataset_num_buffers(dataset: int) -> int:
    return len(_S.datasets[dataset])


def _buffers(dataset: int, n: int, what: str, code: int) -> list[tuple[int, int]]:
    if dataset not in _S.datasets:
        raise _Err(INVALID_PARAM, f"{what} dataset {dataset:#x} does not exist")
    bufs = [_S.data_buffers.get(b) for b in _S.datasets[dataset]]
    if len(bufs) != n or any(b is None for b in bufs):
        raise _Err(code, f"the {what} dataset has {len(bufs)} buffer(s), the model {n}", violation=True)
    return bufs  # type: ignore[return-value]


@_api("acl.mdl.set_dynamic_batch_size", 0, ctx=True)
def _set_dynamic_batch_size(model_id: int, dataset: int, index: int, batch: int) -> None:
    model = _model(model_id)
    if not model.gears:
        raise _Err(MODEL_NOT_DYNAMIC, f"model {model_id} was not compiled with --dynamic_batch_size")
    if index != len(model.input_names):
        raise _Err(INVALID_PARAM, f"input {index} is not {MBATCH_INPUT}", violation=True)
    if batch not in model.gears:
        raise _Err(GE_BATCH_SIZE_INVALID, f"batch {batch} is not one of the compiled gears {list(model.gears)}", True)
    bufs = _buffers(dataset, model.n_inputs, "input", MODEL_INPUT_NOT_MATCH)
    addr, _size = bufs[index]
    _device_block(addr, 8, f"the {MBATCH_INPUT} buffer")
    ctypes.memmove(addr, np.array([batch], dtype=np.int64).tobytes(), 8)


@_api("acl.mdl.execute", 0, ctx=True)
def _execute(model_id: int, in_ds: int, out_ds: int) -> None:
    model = _model(model_id)
    if _current_device() != model.device:
        raise _Err(RT_MODEL_CONTEXT, f"model {model_id} is on device {model.device}, the current context is not", True)
    ins = _buffers(in_ds, model.n_inputs, "input", MODEL_INPUT_NOT_MATCH)
    outs = _buffers(out_ds, len(model.out_names), "output", MODEL_OUTPUT_NOT_MATCH)
    for i, (addr, size) in enumerate(ins):
        if size != model.input_size(i):
            raise _Err(
                GE_DATA_SIZE_INVALID, f"input {i}'s buffer is {size} bytes, the model's {model.input_size(i)}", True
            )
        if _device_block(addr, size, f"input {i}") != model.device:
            raise _Err(INVALID_PARAM, f"input {i}'s buffer is on another device", violation=True)
    for i, (addr, size) in enumerate(outs):
        if size < model.output_size(i) or _device_block(addr, size, f"output {i}") != model.device:
            raise _Err(
                MODEL_OUTPUT_NOT_MATCH, f"output {i}'s buffer is {size} bytes, the model's {model.output_size(i)}", True
            )
    gear = None
    if model.gears:
        addr = ins[-1][0]
        gear = int(np.frombuffer(ctypes.string_at(addr, 8), dtype=np.int64)[0])
        if gear not in model.gears:
            raise _Err(GE_BATCH_SIZE_INVALID, f"the batch in {MBATCH_INPUT} ({gear}) is not a compiled gear; call "
                       "acl.mdl.set_dynamic_batch_size first", violation=True)  # fmt: skip
    arrays = []
    for (addr, _), dims, dtype in zip(ins, model.in_dims, model.in_dtypes):
        shape = _at(dims, gear)
        count = int(np.prod(shape, dtype=np.int64))
        arrays.append(np.frombuffer(ctypes.string_at(addr, count * dtype.itemsize), dtype=dtype).reshape(shape))
    try:
        results = _infer(model, arrays)
    except Exception as exc:
        raise _Err(RT_MODEL_EXECUTE, f"the model failed while executing: {exc}") from exc
    for (addr, size), out in zip(outs, results):
        data = np.ascontiguousarray(out).tobytes()
        ctypes.memmove(addr, data, len(data))
    model.cur_dims = [tuple(o.shape) for o in results]


mdl = SimpleNamespace(
    load_from_file=_load_from_file,
    unload=_unload,
    create_desc=_create_desc,
    destroy_desc=_destroy_desc,
    get_desc=_get_desc,
    get_num_inputs=_get_num_inputs,
    get_num_outputs=_get_num_outputs,
    get_input_size_by_index=_get_input_size_by_index,
    get_output_size_by_index=_get_output_size_by_index,
    get_input_dims=_get_input_dims,
    get_output_dims=_get_output_dims,
    get_cur_output_dims=_get_cur_output_dims,
    get_input_name_by_index=_get_input_name_by_index,
    get_output_name_by_index=_get_output_name_by_index,
    get_input_data_type=_get_input_data_type,
    get_output_data_type=_get_output_data_type,
    get_input_index_by_name=_get_input_index_by_name,
    get_dynamic_batch=_get_dynamic_batch,
    create_dataset=_create_dataset,
    destroy_dataset=_destroy_dataset,
    add_dataset_buffer=_add_dataset_buffer,
    get_dataset_buffer=_get_dataset_buffer,
    get_dataset_num_buffers=_get_dataset_num_buffers,
    set_dynamic_batch_size=_set_dynamic_batch_size,
    execute=_execute,
)

sim_reset()
