"""An offline model (``.om``) loaded on one device with pyACL, its buffers allocated once and reused.

The sequence is CANN's (Ascend/samples ``acllite_model.py``, pyACL reference): ``acl.mdl.load_from_file``,
the model description (``create_desc`` + ``get_desc``), one device buffer per input and output sized by
``get_input_size_by_index`` / ``get_output_size_by_index``, wrapped in data buffers and two datasets; each
run copies inputs host-to-device, executes, copies outputs device-to-host.

Dynamic batch: ATC adds an input named ``ascend_mbatch_shape_data`` to a model compiled with
``--dynamic_batch_size``. It gets a buffer like any input, but ``acl.mdl.set_dynamic_batch_size`` fills it;
the batch must be one of the compiled gears. A run pads its batch up to the nearest gear, slices the
outputs back, and splits a batch larger than the largest gear into several runs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from mindinfer.errors import InvalidInputError, MindInferError

from ._acl import (
    ACL_DEVICE,
    ACL_MEM_MALLOC_NORMAL_ONLY,
    ACL_MEMCPY_DEVICE_TO_DEVICE,
    ACL_MEMCPY_DEVICE_TO_HOST,
    ACL_MEMCPY_HOST_TO_DEVICE,
    AclError,
    check,
    recent_error,
    runtime,
    value,
)

__all__ = ["ACL_DTYPES", "MBATCH_INPUT", "AclModel", "TensorInfo"]

#: ``ACL_DYNAMIC_TENSOR_NAME`` of acl_mdl.h.
MBATCH_INPUT = "ascend_mbatch_shape_data"
#: aclDataType -> numpy (acl_base.h; Ascend/samples constants.py).
ACL_DTYPES: dict[int, np.dtype[Any]] = {
    0: np.dtype(np.float32),
    1: np.dtype(np.float16),
    2: np.dtype(np.int8),
    3: np.dtype(np.int32),
    4: np.dtype(np.uint8),
    6: np.dtype(np.int16),
    7: np.dtype(np.uint16),
    8: np.dtype(np.uint32),
    9: np.dtype(np.int64),
    10: np.dtype(np.uint64),
    11: np.dtype(np.float64),
    12: np.dtype(np.bool_),
}


@dataclass(frozen=True)
class TensorInfo:
    """One input or output as the model description gives it."""

    index: int
    name: str
    dims: tuple[int, ...]
    dtype: np.dtype[Any]
    #: Bytes of its device buffer (at the largest gear for a dynamic-batch model).
    size: int
    batched: bool = False

    def shape_at(self, batch: int | None) -> tuple[int, ...]:
        if batch is None or not self.batched:
            return self.dims
        return (batch, *self.dims[1:])


class AclModel:
    """A loaded ``.om``: its description, device buffers and datasets; ``close()`` frees them all."""

    def __init__(self, path: str, device_id: int, known_inputs: Sequence[tuple[str, bool]] | None = None) -> None:
        """Load ``path`` on ``device_id``. ``known_inputs`` are ``(name, batched)`` in the order ``run``
        receives arrays (the compiled graph's inputs), when the caller knows them."""
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        self._rt = runtime()
        self._ctx = self._rt.device(device_id)
        self._acl = self._ctx.acl
        self.model_id: int | None = None
        self.desc = 0
        self._data_buffers: list[int] = []
        self._device_ptrs: list[int] = []
        self._host_ptrs: list[int] = []
        self._datasets: list[int] = []
        try:
            self._load(known_inputs)
        except BaseException:
            self._release()
            raise
        self._rt.track(self)

    # -- loading ---------------------------------------------------------------------------------
    def _load(self, known_inputs: Sequence[tuple[str, bool]] | None) -> None:
        acl, where = self._acl, f"for {self.path}"
        self._ctx.make_current()
        # On a board whose CPU runs this program (Atlas 200 DK-style, ACL_DEVICE) every buffer is device
        # memory, and Ascend's samples copy device-to-device there.
        on_board = value(acl, acl.rt.get_run_mode(), "acl.rt.get_run_mode") == ACL_DEVICE
        self._h2d = ACL_MEMCPY_DEVICE_TO_DEVICE if on_board else ACL_MEMCPY_HOST_TO_DEVICE
        self._d2h = ACL_MEMCPY_DEVICE_TO_DEVICE if on_board else ACL_MEMCPY_DEVICE_TO_HOST
        self._bytes_api = hasattr(acl.util, "bytes_to_ptr") and hasattr(acl.util, "ptr_to_bytes")
        self.model_id = int(value(acl, acl.mdl.load_from_file(self.path), "acl.mdl.load_from_file", where))
        self.desc = int(acl.mdl.create_desc())
        if not self.desc:
            raise AclError("acl.mdl.create_desc", 500000, "it returned a null description", where)
        check(acl, acl.mdl.get_desc(self.desc, self.model_id), "acl.mdl.get_desc", where)
        index, ret = acl.mdl.get_input_index_by_name(self.desc, MBATCH_INPUT)
        self.mbatch_index: int | None = int(index) if ret == 0 else None
        self.gears: tuple[int, ...] = ()
        if self.mbatch_index is not None:
            info = value(acl, acl.mdl.get_dynamic_batch(self.desc), "acl.mdl.get_dynamic_batch", where)
            self.gears = tuple(sorted(int(b) for b in info["batch"]))
        n_in = int(acl.mdl.get_num_inputs(self.desc))
        data_idx = [i for i in range(n_in) if i != self.mbatch_index]
        self.inputs = [self._tensor(i, "input") for i in data_idx]
        if known_inputs is not None:
            self.inputs = self._align(known_inputs)
        elif self.gears and not any(t.batched for t in self.inputs):
            # A description giving the largest gear instead of -1 for the batch (get_input_dims_v2 style).
            self.inputs = [
                TensorInfo(t.index, t.name, t.dims, t.dtype, t.size, bool(t.dims) and t.dims[0] == self.gears[-1])
                for t in self.inputs
            ]
        self.outputs = [self._tensor(i, "output") for i in range(int(acl.mdl.get_num_outputs(self.desc)))]
        in_sizes = [int(acl.mdl.get_input_size_by_index(self.desc, i)) for i in range(n_in)]
        self._in_ptrs = [self._malloc(s) for s in in_sizes]
        self.in_dataset = self._dataset(self._in_ptrs, in_sizes)
        self._out_ptrs = [self._malloc(t.size) for t in self.outputs]
        self.out_dataset = self._dataset(self._out_ptrs, [t.size for t in self.outputs])
        self._out_host = [self._malloc_host(t.size) for t in self.outputs]

    def _align(self, known: Sequence[tuple[str, bool]]) -> list[TensorInfo]:
        """The description's inputs in the caller's order (by name, when the names agree; ATC keeps the
        ONNX graph's order and names, so this is a safeguard), marked batched as the caller says."""
        names = [n for n, _ in known]
        if len(names) != len(self.inputs):
            raise MindInferError(
                f"plugin 'ascend': {self.path} has {len(self.inputs)} data inputs, the compiled graph {len(names)}"
            )
        ordered = self.inputs
        if sorted(names) == sorted(t.name for t in self.inputs):
            by_name = {t.name: t for t in self.inputs}
            ordered = [by_name[n] for n in names]
        return [
            TensorInfo(t.index, t.name, t.dims, t.dtype, t.size, batched and bool(self.gears))
            for t, (_, batched) in zip(ordered, known)
        ]

    def _tensor(self, i: int, kind: str) -> TensorInfo:
        acl, desc, where = self._acl, self.desc, f"for {kind} {i} of {self.path}"
        get = getattr(acl.mdl, f"get_{kind}_dims")
        dims = value(acl, get(desc, i), f"acl.mdl.get_{kind}_dims", where)
        name = str(getattr(acl.mdl, f"get_{kind}_name_by_index")(desc, i) or dims.get("name") or f"{kind}_{i}")
        code = int(getattr(acl.mdl, f"get_{kind}_data_type")(desc, i))
        if code not in ACL_DTYPES:
            raise MindInferError(
                f"plugin 'ascend': {kind} {name!r} of {self.path} has ACL data type {code}, which mindinfer does not map to numpy"
            )
        size = int(getattr(acl.mdl, f"get_{kind}_size_by_index")(desc, i))
        shape = tuple(int(d) for d in dims["dims"])
        batched = bool(self.gears) and bool(shape) and shape[0] == -1
        return TensorInfo(i, name, shape, ACL_DTYPES[code], size, batched)

    def _malloc(self, size: int) -> int:
        ptr = int(value(self._acl, self._acl.rt.malloc(max(size, 1), ACL_MEM_MALLOC_NORMAL_ONLY), "acl.rt.malloc"))
        self._device_ptrs.append(ptr)
        return ptr

    def _malloc_host(self, size: int) -> int:
        ptr = int(value(self._acl, self._acl.rt.malloc_host(max(size, 1)), "acl.rt.malloc_host"))
        self._host_ptrs.append(ptr)
        return ptr

    def _dataset(self, ptrs: list[int], sizes: list[int]) -> int:
        acl = self._acl
        dataset = int(acl.mdl.create_dataset())
        if not dataset:
            raise AclError("acl.mdl.create_dataset", 500000, "it returned a null dataset")
        self._datasets.append(dataset)
        for ptr, size in zip(ptrs, sizes):
            buf = int(acl.create_data_buffer(ptr, size))
            if not buf:
                raise AclError("acl.create_data_buffer", 500000, "it returned a null data buffer")
            self._data_buffers.append(buf)
            value(acl, acl.mdl.add_dataset_buffer(dataset, buf), "acl.mdl.add_dataset_buffer")
        return dataset

    # -- running ---------------------------------------------------------------------------------
    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Outputs for ``arrays`` (one per data input); thread-safe (one run at a time per model)."""
        with self._lock:
            if self._closed:
                raise MindInferError("plugin 'ascend': this model was closed; compile it again")
            self._ctx.make_current()  # contexts are per thread: the calling thread may be new
            if not self.gears:
                return self._execute(list(arrays), None, None)
            return self._run_gears(list(arrays))

    def _run_gears(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        sizes = {int(np.shape(a)[0]) for a, t in zip(arrays, self.inputs) if t.batched and np.ndim(a) > 0}
        if len(sizes) != 1:
            names = ", ".join(t.name for t in self.inputs if t.batched)
            raise InvalidInputError(
                f"plugin 'ascend': the batched inputs ({names}) must share one batch size, got {sorted(sizes)}"
            )
        total = sizes.pop()
        if total < 1:
            raise InvalidInputError("plugin 'ascend': a batch of 0 cannot run; give at least one row")
        largest = self.gears[-1]
        parts: list[list[np.ndarray]] = []
        for start in range(0, total, largest):
            take = min(largest, total - start)
            gear = next(g for g in self.gears if g >= take)
            chunk = [self._pad(a[start : start + take], gear) if t.batched else a for a, t in zip(arrays, self.inputs)]
            parts.append(self._execute(chunk, gear, take if (gear != take or total > largest) else None))
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate([p[k] for p in parts], axis=0) for k in range(len(self.outputs))]

    @staticmethod
    def _pad(rows: np.ndarray, gear: int) -> np.ndarray:
        if rows.shape[0] == gear:
            return rows
        pad = np.zeros((gear - rows.shape[0], *rows.shape[1:]), dtype=rows.dtype)
        return np.concatenate([rows, pad], axis=0)

    def _execute(self, arrays: list[np.ndarray], gear: int | None, keep: int | None) -> list[np.ndarray]:
        """One ``acl.mdl.execute``; ``keep`` rows of each batched output are returned when padded or split."""
        acl = self._acl
        for t, array in zip(self.inputs, arrays):
            host = self._input_array(t, array, gear)
            # Older pyACL has only numpy_to_ptr, which newer CANN deprecates for bytes_to_ptr; Ascend/samples'
            # acllite_model.py chooses the same way. ``data`` keeps the memory alive through the copy.
            data: bytes | np.ndarray = host.tobytes() if self._bytes_api else host
            ptr = acl.util.bytes_to_ptr(data) if self._bytes_api else acl.util.numpy_to_ptr(host)
            check(
                acl,
                acl.rt.memcpy(self._in_ptrs[t.index], t.size, ptr, host.nbytes, self._h2d),
                "acl.rt.memcpy",
                f"(host to device, input {t.name!r})",
            )
        if gear is not None:
            assert self.mbatch_index is not None
            check(
                acl,
                acl.mdl.set_dynamic_batch_size(self.model_id, self.in_dataset, self.mbatch_index, gear),
                "acl.mdl.set_dynamic_batch_size",
                f"(batch {gear}, gears {list(self.gears)})",
            )
        check(
            acl,
            acl.mdl.execute(self.model_id, self.in_dataset, self.out_dataset),
            "acl.mdl.execute",
            f"for {self.path}",
        )
        return [self._output(k, t, gear, keep) for k, t in enumerate(self.outputs)]

    @staticmethod
    def _input_array(t: TensorInfo, array: np.ndarray, gear: int | None) -> np.ndarray:
        if not isinstance(array, np.ndarray) or array.dtype != t.dtype:
            got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise InvalidInputError(f"plugin 'ascend': input {t.name!r} must be {t.dtype}, got {got}")
        want = t.shape_at(gear)
        if tuple(array.shape) != want:
            raise InvalidInputError(
                f"plugin 'ascend': input {t.name!r} must have shape {list(t.dims)}, got {list(array.shape)}"
            )
        host = np.ascontiguousarray(array)
        if host.nbytes > t.size:
            raise InvalidInputError(
                f"plugin 'ascend': input {t.name!r} is {host.nbytes} bytes, the model's buffer {t.size}"
            )
        return host

    def _output(self, k: int, t: TensorInfo, gear: int | None, keep: int | None) -> np.ndarray:
        acl = self._acl
        if gear is None:
            dims = t.dims
        else:
            cur = value(acl, acl.mdl.get_cur_output_dims(self.desc, k), "acl.mdl.get_cur_output_dims")
            dims = tuple(int(d) for d in cur["dims"])
        nbytes = int(np.prod(dims, dtype=np.int64)) * t.dtype.itemsize
        if nbytes > t.size or min(dims, default=0) < 0:
            raise MindInferError(
                f"plugin 'ascend': output {t.name!r} has shape {list(dims)}, more than its {t.size}-byte buffer"
            )
        if nbytes:
            check(
                acl,
                acl.rt.memcpy(self._out_host[k], t.size, self._out_ptrs[k], nbytes, self._d2h),
                "acl.rt.memcpy",
                f"(device to host, output {t.name!r})",
            )
        if self._bytes_api:
            raw = np.frombuffer(acl.util.ptr_to_bytes(self._out_host[k], nbytes), dtype=np.uint8)
        else:  # older pyACL: a uint8 (NPY_UBYTE = 2) view of the host buffer
            raw = np.asarray(acl.util.ptr_to_numpy(self._out_host[k], (nbytes,), 2))
        out = raw.view(t.dtype).reshape(dims).copy()
        if keep is None:
            return out
        if not dims or dims[0] != gear:
            raise MindInferError(
                f"plugin 'ascend': output {t.name!r} (shape {list(dims)}) does not carry the batch dimension, so a "
                f"batch padded or split to the gears {list(self.gears)} would change it; include the batch size in "
                "the option batch_sizes"
            )
        return out[:keep]

    # -- closing ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Free every buffer, dataset, description and the model; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._release()

    def _release(self) -> None:
        acl, errors = self._acl, []

        def attempt(ret: Any, call: str) -> None:
            if ret != 0:
                errors.append(AclError(call, ret, recent_error(acl)))

        try:
            self._ctx.make_current()
            for buf in self._data_buffers:
                attempt(acl.destroy_data_buffer(buf), "acl.destroy_data_buffer")
            for dataset in self._datasets:
                attempt(acl.mdl.destroy_dataset(dataset), "acl.mdl.destroy_dataset")
            for ptr in self._device_ptrs:
                attempt(acl.rt.free(ptr), "acl.rt.free")
            for ptr in self._host_ptrs:
                attempt(acl.rt.free_host(ptr), "acl.rt.free_host")
            if self.model_id is not None:
                attempt(acl.mdl.unload(self.model_id), "acl.mdl.unload")
            if self.desc:
                attempt(acl.mdl.destroy_desc(self.desc), "acl.mdl.destroy_desc")
        finally:
            self._data_buffers, self._datasets, self._device_ptrs, self._host_ptrs = [], [], [], []
            self.model_id, self.desc = None, 0
            self._closed = True
            self._rt.release_device(self._ctx)
        if errors:
            raise MindInferError(f"plugin 'ascend': releasing {self.path} failed: " + "; ".join(str(e) for e in errors))
