"""Python-scalar arithmetic MindSpore 2.x emits as its own primitives: ``%`` (Remainder*), division with a
rounding mode (DivMod/DivMods), Lerp, and TensorMove (a copy).

(BitwiseAndTensor is left out: ONNX's integer BitwiseAnd needs opset 18, and the default is 17.)"""

from __future__ import annotations

import numpy as np
from mindinfer.ir import Const, Node, Ref

from .._graph import GraphBuilder, Value
from ._base import const_arg, dtype_of, lowers, out, out_dtype, x


def _dtype(b: GraphBuilder, node: Node) -> np.dtype | None:
    """MindSpore's result dtype: with a Python scalar operand, the tensor's (a float scalar makes an
    integer tensor float32). The exported spec can say otherwise (int64 for ``7 % int32_x``) while
    MindSpore computes the tensor's dtype."""
    operands = node.inputs[:2]
    scalars = [i for i, item in enumerate(operands) if isinstance(item, Const) and np.ndim(item.value) == 0]
    tensors = [i for i, item in enumerate(operands) if isinstance(item, Ref)]
    if len(scalars) == 1 and len(tensors) == 1:
        dt = dtype_of(b, node, tensors[0])
        if dt is not None:
            if dt.kind in "iub" and isinstance(node.inputs[scalars[0]].value, (float, np.floating)):
                return np.dtype("float32")
            return dt
    return out_dtype(node)


@lowers(
    "RemainderTensorScalar",
    "RemainderScalarTensor",
    "RemainderTensorTensor",
    "InplaceRemainderTensorScalar",
    "InplaceRemainderTensorTensor",
)
def remainder(b: GraphBuilder, node: Node) -> None:
    """x % 3, 7 % x, mint.remainder(x, y), y %= 3: a - floor(a / b) * b, the sign of the divisor."""
    dt = _dtype(b, node)
    a, c = x(b, node, 0, dt), x(b, node, 1, dt)
    if dt is not None and dt.kind in "iu":
        result = b.op1("Mod", [a, c], fmod=0)
    else:
        q = b.op1("Floor", [b.op1("Div", [a, c])])
        result = b.op1("Sub", [a, b.op1("Mul", [q, c])])
    _out_as(b, node, result, dt)


def _out_as(b: GraphBuilder, node: Node, name: str, dt: np.dtype | None) -> None:
    """Bind the output, recording the dtype really computed when it differs from the exported spec."""
    out(b, node, name)
    info = b.info(name)
    if dt is not None and info is not None and info.dtype != dt:
        b.conversion.info[name] = Value(dt, info.shape)


#: rounding_mode as core decodes it (``node.arg``: MindSpore's codes become these names); None is true
#: division. Core also knows "round" and "ceil", which division does not take.
_ROUNDING = {None: None, "trunc": "trunc", "floor": "floor"}


@lowers("DivMod", "DivMods")
def div_mod(b: GraphBuilder, node: Node) -> None:
    """a / b, rounded toward zero (trunc) or down (floor), or exact (None)."""
    raw = const_arg(b, node, "rounding_mode")
    if raw not in _ROUNDING:
        raise b.unsupported(f"rounding_mode={raw!r}")
    mode = _ROUNDING[raw]
    dt = _dtype(b, node)
    if mode is None and (dt is None or dt.kind != "f"):
        dt = np.dtype("float32")  # true division of integers is float32
    a, c = x(b, node, 0, dt), x(b, node, 1, dt)
    if dt is not None and dt.kind in "iu":
        # Exact for |v| < 2**53: the quotient in float64, then rounded and cast back.
        q = b.op1("Div", [b.cast(a, "float64"), b.cast(c, "float64")])
        _out_as(b, node, b.cast(_round(b, q, mode, np.dtype("float64")), dt), dt)
        return
    _out_as(b, node, _round(b, b.op1("Div", [a, c]), mode, dt or np.dtype("float32")), dt)


def _round(b: GraphBuilder, q: str, mode: str | None, dt: np.dtype) -> str:
    if mode is None:
        return q
    if mode == "floor":
        return b.op1("Floor", [q])
    negative = b.op1("Less", [q, b.const(0, dt)])
    return b.op1("Where", [negative, b.op1("Ceil", [q]), b.op1("Floor", [q])])


@lowers("Lerp", "LerpScalar")
def lerp(b: GraphBuilder, node: Node) -> None:
    """start + weight * (end - start)."""
    dt = out_dtype(node)
    start, end, weight = x(b, node, 0, dt), x(b, node, 1, dt), x(b, node, 2, dt)
    out(b, node, b.op1("Add", [start, b.op1("Mul", [weight, b.op1("Sub", [end, start])])]))


@lowers("TensorMove")
def tensor_move(b: GraphBuilder, node: Node) -> None:
    """A copy: the same value."""
    out(b, node, b.op1("Identity", [x(b, node, 0)]))
