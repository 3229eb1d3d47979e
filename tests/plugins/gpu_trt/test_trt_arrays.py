"""Reading other libraries' arrays without CUDA: DLPack capsules (numpy exports them on the CPU),
``__cuda_array_interface__`` dictionaries, page-locked staging views."""

from __future__ import annotations

import numpy as np
import pytest
from mindinfer.errors import InvalidInputError
from mindinfer_tensorrt._cuda import device_view, host_view, parse_dlpack
from stand_ins import FakeGpuArrayForTests


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64, np.int32, np.uint8, np.bool_])
def test_dlpack_capsules_are_read_without_copying(dtype: type) -> None:
    a = np.arange(24).reshape(2, 3, 4).astype(dtype)
    ptr, shape, got, contiguous, device = parse_dlpack(a.__dlpack__(), "x")
    assert (ptr, shape, got, contiguous, device) == (a.ctypes.data, (2, 3, 4), np.dtype(dtype), True, 1)


def test_dlpack_strided_and_offset_views() -> None:
    a = np.arange(48, dtype=np.float32).reshape(4, 12)
    ptr, shape, _, contiguous, _ = parse_dlpack(a[:, ::2].__dlpack__(), "x")
    assert shape == (4, 6) and not contiguous and ptr == a.ctypes.data
    ptr, shape, _, contiguous, _ = parse_dlpack(a[1:].__dlpack__(), "x")
    assert ptr == a[1:].ctypes.data and shape == (3, 12) and contiguous


def test_a_capsule_that_is_not_dlpack_is_an_input_error() -> None:
    with pytest.raises(InvalidInputError, match="not a usable DLPack capsule"):
        parse_dlpack(object(), "x")


def test_host_arrays_are_not_device_views() -> None:
    a = np.zeros((2, 3), np.float32)

    class HostDLPack:
        def __dlpack__(self, stream: object = None) -> object:
            return a.__dlpack__()

        def __dlpack_device__(self) -> tuple[int, int]:
            return a.__dlpack_device__()

    assert device_view(a, "x") is None and device_view(HostDLPack(), "x") is None and device_view([1], "x") is None


def test_cuda_array_interface_is_read() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    view = device_view(FakeGpuArrayForTests(a, stream=5), "x")
    assert view is not None
    assert (view.ptr, view.shape, view.dtype, view.contiguous, view.stream) == (a.ctypes.data, (3, 4), a.dtype, True, 5)
    assert view.nbytes == 48
    strided = device_view(FakeGpuArrayForTests(a[:, ::2]), "x")
    assert strided is not None and not strided.contiguous


def test_host_view_aliases_memory() -> None:
    a = np.zeros(16, np.uint8)
    v = host_view(a.ctypes.data, 16)
    v[:] = 7
    assert a.tolist() == [7] * 16
