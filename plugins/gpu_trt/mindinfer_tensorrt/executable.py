"""Running a TensorRT engine: a pool of execution contexts, each with its own stream and buffers.

Per run (the pattern of NVIDIA's ``samples/python/common_runtime.py``, with name-based IO):
``set_input_shape`` for each input whose shape changed, ``infer_shapes``, ``set_tensor_address``
for every IO tensor, ``execute_async_v3`` on the context's stream, then one synchronize. Host inputs
are staged through page-locked memory; arrays already on the GPU are bound where they are.
Buffers are allocated once per shape and reused. Each concurrent ``run`` takes its own context from
the pool (a new one when all are busy), so ``run`` is safe from several threads.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from mindinfer.backend import ExecutableBase
from mindinfer.errors import InvalidInputError, MindInferError, PluginError
from mindinfer.ir import TensorSpec

from ._cuda import Buffers, CudaAPI, GpuArray, device_view
from ._profiles import Profile, check_run_shape

__all__ = ["TensorRTExecutable", "numpy_dtype"]

PLUGIN = "tensorrt"
_DTYPES = {
    "FLOAT": np.float32,
    "HALF": np.float16,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "INT8": np.int8,
}


def numpy_dtype(trt_dtype: Any) -> np.dtype:
    """numpy dtype of a ``trt.DataType`` (by name, so that it works for 10.x and 11.x alike)."""
    name = getattr(trt_dtype, "name", str(trt_dtype)).rsplit(".", 1)[-1]
    if name not in _DTYPES:
        raise MindInferError(f"plugin '{PLUGIN}': engine tensor type {name} has no numpy equivalent")
    return np.dtype(_DTYPES[name])


class _Slot:
    """One execution context with its stream and buffers; used by one run at a time."""

    def __init__(self, engine: Any, cuda: CudaAPI) -> None:
        self.context = engine.create_execution_context()
        if self.context is None:
            raise MindInferError(
                f"plugin '{PLUGIN}': TensorRT could not create an execution context (out of GPU memory?)"
            )
        self.stream = cuda.stream_create()
        self.buffers = Buffers(cuda)
        self.shapes: dict[str, tuple[int, ...]] = {}


class TensorRTExecutable(ExecutableBase):
    """A deserialized engine and its pool of execution contexts."""

    #: Each concurrent run gets its own execution context, stream and buffers.
    thread_safe = True
    #: ``run`` takes arrays living on the GPU (``__cuda_array_interface__`` / DLPack) as they are.
    accepts_device_arrays = True

    def __init__(
        self,
        trt: Any,
        engine: Any,
        keep: Any,
        cuda: CudaAPI,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        profiles: Sequence[Profile],
        outputs_on_gpu: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(len(inputs), PLUGIN)
        self.engine, self._keep, self.cuda = engine, keep, cuda
        self.outputs_on_gpu = outputs_on_gpu
        self.info = dict(info or {})
        self.profiles = {p.name: p for p in profiles}
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        is_input = {n: engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        want_in, want_out = [s.name for s in inputs], [s.name for s in outputs]
        got_in, got_out = [n for n in names if is_input[n]], [n for n in names if not is_input[n]]
        if sorted(got_in) != sorted(want_in) or sorted(got_out) != sorted(want_out):
            raise PluginError(
                f"plugin '{PLUGIN}': the engine's tensors (inputs {got_in}, outputs {got_out}) do not match the "
                f"model's (inputs {want_in}, outputs {want_out})"
            )
        self.inputs = [(s.name, numpy_dtype(engine.get_tensor_dtype(s.name)), s) for s in inputs]
        self.outputs = [(s.name, numpy_dtype(engine.get_tensor_dtype(s.name))) for s in outputs]
        self._idle: list[_Slot] = []
        self._all: list[_Slot] = []
        self._pool_lock = threading.Lock()

    @property
    def contexts(self) -> int:
        """How many execution contexts the pool holds (one per run that was ever concurrent)."""
        return len(self._all)

    def _acquire(self) -> _Slot:
        with self._pool_lock:
            if self._idle:
                return self._idle.pop()
            slot = _Slot(self.engine, self.cuda)
            self._all.append(slot)
            return slot

    def _release(self, slot: _Slot) -> None:
        with self._pool_lock:
            self._idle.append(slot)

    def _run(self, inputs: list[Any]) -> list[Any]:
        self.cuda.set_device()
        slot = self._acquire()
        try:
            return self._run_on(slot, inputs)
        finally:
            self._release(slot)

    def _run_on(self, slot: _Slot, inputs: list[Any]) -> list[Any]:
        ctx, stream, buffers, cuda = slot.context, slot.stream, slot.buffers, self.cuda
        # Every input is checked before anything is queued, so a refused run leaves no work behind.
        pending: list[tuple[str, tuple[int, ...], Any, np.ndarray | None]] = []
        for (name, dtype, spec), value in zip(self.inputs, inputs):
            view = device_view(value, name, stream)
            # np.asarray, not np.ascontiguousarray: the latter makes 0-d inputs 1-d.
            host = np.asarray(value, order="C") if view is None else None
            shape = tuple(view.shape if view is not None else host.shape)  # type: ignore[union-attr]
            given = view.dtype if view is not None else host.dtype  # type: ignore[union-attr]
            _check_input(spec, name, shape, given, dtype, view is not None and not view.contiguous)
            check_run_shape(self.profiles, name, shape)
            pending.append((name, shape, view, host))
        for name, shape, view, host in pending:
            if slot.shapes.get(name) != shape:
                if not ctx.set_input_shape(name, shape):
                    raise InvalidInputError(
                        f"plugin '{PLUGIN}': TensorRT refused shape {list(shape)} for input {name!r}"
                    )
                slot.shapes[name] = shape
            if view is not None:
                if view.stream is not None:
                    cuda.wait_for(int(view.stream), stream)
                ctx.set_tensor_address(name, view.ptr)
                continue
            assert host is not None
            ptr, pinned = buffers.pinned(name, host.nbytes)
            pinned[:] = host.reshape(-1).view(np.uint8)
            device = buffers.device(name, host.nbytes)
            cuda.copy_async(device, ptr, host.nbytes, "htod", stream)
            ctx.set_tensor_address(name, device)
        unresolved = ctx.infer_shapes()
        if unresolved:
            raise MindInferError(f"plugin '{PLUGIN}': TensorRT could not infer the shapes of {list(unresolved)}")
        results: list[Any] = []
        shapes = []
        for name, dtype in self.outputs:
            shape = tuple(int(d) for d in ctx.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise MindInferError(
                    f"plugin '{PLUGIN}': output {name!r} has a data-dependent shape {list(shape)}, which this plugin "
                    "does not handle yet (it needs TensorRT's IOutputAllocator); use target 'cpu' for this model"
                )
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            shapes.append((shape, nbytes))
            if self.outputs_on_gpu:
                out = GpuArray(cuda, cuda.malloc(nbytes), shape, dtype)
                results.append(out)
                ctx.set_tensor_address(name, out.ptr)
            else:
                ctx.set_tensor_address(name, buffers.device(name, nbytes))
        if not ctx.execute_async_v3(stream):
            raise MindInferError(f"plugin '{PLUGIN}': TensorRT's execute_async_v3 reported a failure")
        if self.outputs_on_gpu:
            cuda.stream_sync(stream)
            return results
        staged = []
        for (name, dtype), (shape, nbytes) in zip(self.outputs, shapes):
            ptr, pinned = buffers.pinned(name, nbytes)
            cuda.copy_async(ptr, buffers.device(name, nbytes), nbytes, "dtoh", stream)
            staged.append((pinned, dtype, shape))
        cuda.stream_sync(stream)
        # Copied out of the staging buffers, which the next run of this context reuses.
        return [pinned.view(dtype).reshape(shape).copy() for pinned, dtype, shape in staged]

    def _close(self) -> None:
        with self._pool_lock:
            slots, self._all, self._idle = self._all, [], []
        for slot in slots:
            slot.buffers.free()
            self.cuda.stream_destroy(slot.stream)
            slot.context = None
        self.engine = None


def _check_input(
    spec: TensorSpec, name: str, shape: tuple[int, ...], given: np.dtype, want: np.dtype, strided: bool
) -> None:
    """Dtype, rank, fixed dimensions and layout of one input (device arrays skip Session's host checks)."""
    if given != want:
        raise InvalidInputError(f"plugin '{PLUGIN}': input {name!r}: expected dtype {want}, got {given}")
    if spec.shape is not None and (
        len(shape) != len(spec.shape) or any(d >= 0 and d != g for d, g in zip(spec.shape, shape))
    ):
        raise InvalidInputError(f"plugin '{PLUGIN}': input {name!r}: expected shape {spec}, got {list(shape)}")
    if strided:
        raise InvalidInputError(
            f"plugin '{PLUGIN}': input {name!r} is a strided GPU array; pass a C-contiguous one "
            "(cupy.ascontiguousarray / tensor.contiguous())"
        )
