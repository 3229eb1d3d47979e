"""The CUDA layer on a real GPU: memory, streams, copies, GPU-resident inputs (CuPy), GPU outputs.

Needs an NVIDIA GPU with its driver, cuda-python and CuPy -- not TensorRT: the executable is driven
through a stand-in engine (``CupyAffineEngineForTests``) that computes ``y = 2x + 1`` with CuPy on the
device addresses the plugin binds. Run them with ``plugins/gpu_trt/gpu_check.sh``; elsewhere they
skip, saying which piece is missing.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from mindinfer.ir import TensorSpec
from mindinfer_tensorrt import _probe
from mindinfer_tensorrt._cuda import Buffers, GpuArray, device_view
from mindinfer_tensorrt._profiles import derive_profiles
from mindinfer_tensorrt.executable import TensorRTExecutable


def _missing() -> str:
    problem = _probe.probe_driver().problem
    if problem:
        return problem
    for module in ("cuda.bindings.runtime", "cupy"):
        try:
            __import__(module)
        except ImportError as exc:
            return f"{module} is not importable: {exc}"
    return ""


MISSING = _missing()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(bool(MISSING), reason=f"needs a CUDA GPU: {MISSING}")]


@pytest.fixture(scope="module")
def cuda() -> Any:
    from mindinfer_tensorrt._cuda import CudaRuntime

    return CudaRuntime(0)


@pytest.fixture(scope="module")
def cp() -> Any:
    import cupy

    return cupy


def test_round_trip_through_device_and_pinned_memory(cuda: Any) -> None:
    data = np.random.default_rng(0).standard_normal((256, 1024)).astype(np.float32)
    buffers = Buffers(cuda)
    stream = cuda.stream_create()
    try:
        hptr, pinned = buffers.pinned("in", data.nbytes)
        pinned[:] = data.reshape(-1).view(np.uint8)
        d1 = buffers.device("in", data.nbytes)
        d2 = buffers.device("copy", data.nbytes)
        cuda.copy_async(d1, hptr, data.nbytes, "htod", stream)
        cuda.copy_async(d2, d1, data.nbytes, "dtod", stream)
        optr, out = buffers.pinned("out", data.nbytes)
        cuda.copy_async(optr, d2, data.nbytes, "dtoh", stream)
        cuda.stream_sync(stream)
        np.testing.assert_array_equal(out.view(np.float32).reshape(data.shape), data)
        assert buffers.allocations == 4
        buffers.device("in", data.nbytes // 2)  # smaller: reused
        assert buffers.allocations == 4
    finally:
        buffers.free()
        cuda.stream_destroy(stream)


def test_cupy_arrays_are_seen_where_they_live(cp: Any) -> None:
    x = cp.arange(24, dtype=cp.float32).reshape(2, 3, 4)
    view = device_view(x, "x")
    assert view is not None and view.ptr == x.data.ptr and view.shape == (2, 3, 4)
    assert view.dtype == np.float32 and view.contiguous
    strided = device_view(x[:, :, ::2], "x")
    assert strided is not None and not strided.contiguous

    class OnlyDLPack:  # an array that offers DLPack and nothing else
        def __init__(self, a: Any) -> None:
            self.a = a

        def __dlpack__(self, stream: Any = None) -> Any:
            return self.a.__dlpack__(stream=stream)

        def __dlpack_device__(self) -> Any:
            return self.a.__dlpack_device__()

    via_dlpack = device_view(OnlyDLPack(x), "x")
    assert via_dlpack is not None and via_dlpack.ptr == x.data.ptr and via_dlpack.shape == (2, 3, 4)
    assert device_view(np.zeros(3), "x") is None


def test_gpu_array_hands_its_memory_to_cupy(cuda: Any, cp: Any) -> None:
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = GpuArray(cuda, cuda.malloc(data.nbytes), (3, 4), np.dtype(np.float32))
    stream = cuda.stream_create()
    cuda.copy_async(out.ptr, data.ctypes.data, data.nbytes, "htod", stream)
    cuda.stream_sync(stream)
    cuda.stream_destroy(stream)
    shared = cp.asarray(out)
    assert shared.data.ptr == out.ptr
    np.testing.assert_array_equal(cp.asnumpy(shared), data)
    np.testing.assert_array_equal(out.numpy(), data)


def test_waiting_for_another_librarys_stream(cuda: Any, cp: Any) -> None:
    other = cp.cuda.Stream(non_blocking=True)
    with other:
        x = cp.ones((4096, 4096), cp.float32) * 3
    mine = cuda.stream_create()
    try:
        cuda.wait_for(other.ptr, mine)
        host = np.empty((4096, 4096), np.float32)
        cuda.copy_async(host.ctypes.data, x.data.ptr, host.nbytes, "dtoh", mine)
        cuda.stream_sync(mine)
        assert float(host.min()) == 3.0 == float(host.max())
    finally:
        cuda.stream_destroy(mine)


# -- the executable on real CUDA memory, with a CuPy stand-in for the engine ----------------------
class _Ctx:
    def __init__(self, cp: Any) -> None:
        self.cp, self.shapes, self.addresses = cp, {}, {}

    def set_input_shape(self, name: str, shape: Any) -> bool:
        self.shapes[name] = tuple(shape)
        return True

    def infer_shapes(self) -> list[str]:
        return []

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self.shapes["x"]

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        self.addresses[name] = int(ptr)
        return True

    def _array(self, name: str) -> Any:
        cp = self.cp
        shape = self.shapes["x"]
        nbytes = int(np.prod(shape)) * 4
        mem = cp.cuda.UnownedMemory(self.addresses[name], nbytes, self)
        return cp.ndarray(shape, cp.float32, cp.cuda.MemoryPointer(mem, 0))

    def execute_async_v3(self, stream_handle: int) -> bool:
        with self.cp.cuda.ExternalStream(stream_handle):
            y = self._array("y")
            y[...] = self._array("x") * 2 + 1
        return True


class CupyAffineEngineForTests:
    """Not TensorRT: an "engine" with input x [-1, 4] and output y = 2x + 1, computed by CuPy."""

    num_io_tensors = 2

    def __init__(self, cp: Any) -> None:
        self.cp = cp

    def get_tensor_name(self, i: int) -> str:
        return ["x", "y"][i]

    def get_tensor_mode(self, name: str) -> str:
        return "INPUT" if name == "x" else "OUTPUT"

    def get_tensor_dtype(self, name: str) -> Any:
        return type("DT", (), {"name": "FLOAT"})()

    def create_execution_context(self) -> _Ctx:
        return _Ctx(self.cp)


def _exe(cuda: Any, cp: Any, on_gpu: bool = False) -> TensorRTExecutable:
    trt = type("TrtNames", (), {"TensorIOMode": type("M", (), {"INPUT": "INPUT"})})
    spec_in, spec_out = TensorSpec("x", (-1, 4), "float32"), TensorSpec("y", (-1, 4), "float32")
    return TensorRTExecutable(
        trt, CupyAffineEngineForTests(cp), None, cuda, [spec_in], [spec_out], derive_profiles([spec_in], None), on_gpu
    )


def test_executable_host_in_host_out(cuda: Any, cp: Any) -> None:
    exe = _exe(cuda, cp)
    for batch in (3, 1, 32):
        x = np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)
        (y,) = exe.run([x])
        np.testing.assert_allclose(y, 2 * x + 1, rtol=1e-6)
    assert exe._all[0].buffers.allocations == 8  # batch 3 allocates 4 buffers; batch 32 grows them once
    exe.close()


def test_executable_cupy_in_gpu_out(cuda: Any, cp: Any) -> None:
    exe = _exe(cuda, cp, on_gpu=True)
    x = cp.arange(40, dtype=cp.float32).reshape(10, 4)
    (y,) = exe.run([x])
    assert isinstance(y, GpuArray)
    np.testing.assert_allclose(cp.asnumpy(cp.asarray(y)), cp.asnumpy(x) * 2 + 1)
    exe.close()


def test_executable_from_many_threads(cuda: Any, cp: Any) -> None:
    exe = _exe(cuda, cp)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            rng = np.random.default_rng(seed)
            for _ in range(50):
                x = rng.standard_normal((int(rng.integers(1, 33)), 4)).astype(np.float32)
                np.testing.assert_allclose(exe.run([x])[0], 2 * x + 1, rtol=1e-6)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and 1 <= exe.contexts <= 8
    exe.close()
