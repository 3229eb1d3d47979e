"""Python-scalar arithmetic MindSpore 2.x emits as its own primitives: ``%`` (Remainder*), division with a
rounding mode (DivMod/DivMods), Lerp, bitwise ops on tensors, and TensorMove (a copy).

``x % 3`` exports as RemainderTensorScalar, ``7 % x`` as RemainderScalarTensor, ``mint.remainder(x, y)``
as RemainderTensorTensor; the result takes the divisor's sign (Python's and numpy's ``%``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer.ir import Node

from ..registry import Arg, Kernel, kernel, param, simple, unsupported
from ._util import as_array, result_dtype
from .elementwise import INPLACE_UPDATES, as_update


def remainder(a: Any, b: Any) -> np.ndarray:
    """a - floor(a / b) * b in MindSpore's result dtype (a Python scalar never widens a tensor)."""
    dt = result_dtype(a, b)
    return np.asarray(np.mod(a, b)).astype(dt, copy=False)


simple("RemainderTensorScalar", "RemainderScalarTensor", "RemainderTensorTensor")(remainder)
for _name in ("InplaceRemainderTensorScalar", "InplaceRemainderTensorTensor"):
    INPLACE_UPDATES[_name] = remainder
    simple(_name)(as_update(remainder))

#: rounding_mode as core decodes it (``node.arg``: MindSpore's codes become these names); None is true
#: division. Core also knows "round" and "ceil", which division does not take.
_ROUNDING = {None: None, "trunc": "trunc", "floor": "floor"}


def _trunc_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.result_type(a, b).kind in "iub":
        q = np.floor_divide(a, b)
        # floor rounds negative quotients with a remainder one too far down.
        return q + ((np.mod(a, b) != 0) & ((a < 0) != (b < 0)))
    return np.trunc(np.true_divide(a, b))


def div_mod(a: Any, b: Any, mode: str | None) -> np.ndarray:
    """a / b, rounded toward zero (trunc) or down (floor), or exact (None: float result)."""
    dt = result_dtype(a, b)
    a_, b_ = as_array(a), as_array(b)
    if mode is None:
        out = np.true_divide(a_, b_)
        return out.astype(dt if dt.kind == "f" else np.float32, copy=False)
    out = np.floor_divide(a_, b_) if mode == "floor" else _trunc_div(a_, b_)
    return np.asarray(out).astype(dt, copy=False)


@kernel("DivMod", "DivMods")
def build_div_mod(node: Node, args: list[Arg]) -> Kernel:
    """Division with rounding_mode None, 'trunc' or 'floor'."""
    raw = param(node, args, "rounding_mode")
    if raw not in _ROUNDING:
        raise unsupported(node, f"rounding_mode={raw!r}")
    mode = _ROUNDING[raw]
    return lambda a, b, *_: div_mod(a, b, mode)


@simple("Lerp", "LerpScalar")
def lerp(start: Any, end: Any, weight: Any) -> np.ndarray:
    """start + weight * (end - start), in start's float dtype."""
    s = as_array(start)
    return np.asarray(s + np.asarray(weight, s.dtype) * (as_array(end) - s)).astype(s.dtype, copy=False)


simple("BitwiseAndTensor")(lambda a, b: np.asarray(np.bitwise_and(a, b)))


@simple("TensorMove")
def tensor_move(x: Any) -> np.ndarray:
    """A copy of x (values are never written in place here, so the copy is the same array)."""
    return as_array(x)
