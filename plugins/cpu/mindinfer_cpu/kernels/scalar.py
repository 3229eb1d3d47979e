"""Scalar and sequence primitives (loop counters, dynamic shape arithmetic) and tensor-scalar ops."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .._dtypes import to_numpy_dtype
from ..registry import simple
from ._util import as_array, result_dtype


def _py(v: Any) -> Any:
    """A Python scalar from a scalar or 0-d tensor."""
    return np.asarray(v).item() if isinstance(v, (np.ndarray, np.generic)) else v


def _scalar_div(a: Any, b: Any) -> Any:
    return a / b


def _floor_div(a: Any, b: Any) -> Any:
    return a // b if isinstance(a, int) and isinstance(b, int) else float(math.floor(a / b))


_SCALAR_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "ScalarAdd": operator.add,
    "ScalarSub": operator.sub,
    "ScalarMul": operator.mul,
    "ScalarDiv": _scalar_div,
    "ScalarFloorDiv": _floor_div,
    "ScalarMod": operator.mod,
    "ScalarPow": operator.pow,
    "ScalarEq": operator.eq,
    "ScalarGt": operator.gt,
    "ScalarLt": operator.lt,
    "ScalarGe": operator.ge,
    "ScalarLe": operator.le,
    "ScalarMax": max,
    "ScalarMin": min,
    "bit_and": operator.and_,
    "bit_or": operator.or_,
}

for _name, _op in _SCALAR_BINARY.items():
    simple(_name)(lambda a, b, *_, _f=_op: _f(_py(a), _py(b)))

simple("ScalarUadd")(lambda a, *_: +_py(a))
simple("ScalarUsub")(lambda a, *_: -_py(a))
simple("ScalarBool")(lambda a, *_: bool(_py(a)))
simple("bool_not", "BoolNot")(lambda a, *_: not _py(a))
simple("ScalarLog")(lambda a, *_: math.log(_py(a)))


@simple("ScalarCast")
def scalar_cast(a: Any, dtype: Any) -> Any:
    """A scalar converted to the named type (int, float or bool)."""
    dt = to_numpy_dtype(dtype)
    v = _py(a)
    if dt is None:
        return v
    return bool(v) if dt.kind == "b" else int(v) if dt.kind in "iu" else float(v)


_TENSOR_SCALAR: dict[str, Callable[[Any, Any], Any]] = {
    "LessScalar": np.less,
    "EqScalar": np.equal,
    "GreaterEqualScalar": np.greater_equal,
    "GreaterScalar": np.greater,
    "LessEqualScalar": np.less_equal,
    "NotEqualScalar": np.not_equal,
}

for _name, _op in _TENSOR_SCALAR.items():
    simple(_name)(lambda a, b, *_, _f=_op: np.asarray(_f(a, b)))


@simple("AddScalar")
def add_scalar(a: Any, b: Any, alpha: Any = 1) -> Any:
    """tensor + alpha * scalar."""
    dt = result_dtype(a, b)
    return np.asarray(a + alpha * b).astype(dt, copy=False)


@simple("SubScalar")
def sub_scalar(a: Any, b: Any, alpha: Any = 1) -> Any:
    """tensor - alpha * scalar."""
    dt = result_dtype(a, b)
    return np.asarray(a - alpha * b).astype(dt, copy=False)


@simple("Divs")
def divs(a: Any, b: Any) -> Any:
    """tensor / scalar (true division; float result)."""
    a = as_array(a)
    out = np.true_divide(a, b)
    return out.astype(a.dtype if a.dtype.kind == "f" else np.float32, copy=False)


@simple("FloorDivScalar")
def floor_div_scalar(a: Any, b: Any) -> Any:
    """floor(tensor / scalar)."""
    a = as_array(a)
    return np.floor_divide(a, b).astype(result_dtype(a, b), copy=False)


@simple("PowTensorScalar")
def pow_tensor_scalar(a: Any, b: Any) -> Any:
    """tensor ** scalar."""
    a = as_array(a)
    return np.power(a, b).astype(result_dtype(a, b), copy=False)


@simple("PowScalarTensor")
def pow_scalar_tensor(a: Any, b: Any) -> Any:
    """scalar ** tensor."""
    b = as_array(b)
    return np.power(a, b).astype(result_dtype(a, b), copy=False)


@simple("AddN")
def add_n(tensors: Any) -> Any:
    """Sum of a tuple of tensors."""
    it = iter(tensors)
    acc = np.array(next(it), copy=True)
    for t in it:
        acc += t
    return acc


@simple("sequence_len", "SequenceLen", "tuple_len", "list_len")
def sequence_len(seq: Any) -> Any:
    """Length of a tuple."""
    return len(seq)
