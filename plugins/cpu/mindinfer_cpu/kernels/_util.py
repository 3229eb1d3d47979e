"""Helpers shared by kernel modules: axis normalization and keeping float32 float32."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_array(x: Any) -> np.ndarray:
    """A numpy array for a tensor or a scalar/tuple constant."""
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def axes(value: Any, ndim: int) -> tuple[int, ...] | None:
    """Normalized axes of a MindSpore ``axis``/``dim`` argument; None (or ``()``) means all axes."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (int, np.integer)):
        value = (int(value),)
    value = tuple(int(a) for a in value)
    if not value:
        return None
    return tuple(a % ndim if ndim else 0 for a in value)


def result_dtype(*operands: Any) -> np.dtype:
    """MindSpore-style result dtype: tensors decide; a Python/0-d scalar does not widen a tensor.

    numpy would make ``int32 + 0.5`` float64 and ``float32 * float64_scalar`` float64; MindSpore keeps
    the tensor's float type (and an int tensor with a float scalar becomes float32).
    """
    tensors = [o for o in operands if isinstance(o, np.ndarray) and o.ndim > 0]
    if not tensors:
        tensors = [o for o in operands if isinstance(o, np.ndarray)]
    if not tensors:
        return np.result_type(*operands)
    dt = np.result_type(*tensors)
    if dt.kind in "biu" and any(_is_float(o) for o in operands):
        return np.dtype(np.float32)
    return dt


def _is_float(o: Any) -> bool:
    if isinstance(o, np.ndarray):
        return o.dtype.kind == "f"
    return isinstance(o, (float, np.floating))
