"""Scalar and sequence primitives (loop counters, shape arithmetic), as 0-d ONNX tensors.

MindSpore computes these on the host with Python semantics: ints are int64, floats are kept in
float64 here until they meet a tensor (which casts them to its own dtype). Exported abstracts of
scalars do not carry reliable dtypes, so these lowerings derive dtypes from their inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer.dtypes import to_numpy_dtype
from mindinfer.ir import Const, Node, Ref, TupleOf

from .._graph import GraphBuilder, Value
from ._base import const_arg, dtype_of, lowers, out, shape_of, x

_ARITH = {
    "ScalarAdd": "Add",
    "ScalarSub": "Sub",
    "ScalarMul": "Mul",
    "ScalarPow": "Pow",
    "ScalarMax": "Max",
    "ScalarMin": "Min",
}
_COMPARE = {
    "ScalarEq": "Equal",
    "ScalarGt": "Greater",
    "ScalarLt": "Less",
    "ScalarGe": "GreaterOrEqual",
    "ScalarLe": "LessOrEqual",
}
_TENSOR_SCALAR_COMPARE = {
    "LessScalar": "Less",
    "EqScalar": "Equal",
    "GreaterEqualScalar": "GreaterOrEqual",
    "GreaterScalar": "Greater",
    "LessEqualScalar": "LessOrEqual",
}


def _scalar_dtype(value: Any) -> np.dtype:
    if isinstance(value, (bool, np.bool_)):
        return np.dtype("bool")
    if isinstance(value, (int, np.integer)):
        return np.dtype("int64")
    if isinstance(value, np.ndarray):
        return value.dtype
    return np.dtype("float64")


def scalar(b: GraphBuilder, node: Node, index: int) -> tuple[str, np.dtype]:
    """Input ``index`` as a 0-d tensor with its dtype (Python ints int64, floats float64)."""
    item = node.inputs[index]
    if isinstance(item, Const):
        dt = _scalar_dtype(item.value)
        return b.const(np.asarray(item.value, dtype=dt)), dt
    name = x(b, node, index)
    known = dtype_of(b, node, index)
    if known is None:
        raise b.unsupported(f"the type of scalar input {index} is not known")
    return name, known


def _bind(b: GraphBuilder, node: Node, name: str, dtype: np.dtype, index: int = 0) -> None:
    b.bind(node.outputs[index], name)
    b.conversion.info[name] = Value(np.dtype(dtype), ())


def _operands(b: GraphBuilder, node: Node) -> tuple[str, str, np.dtype]:
    (a, da), (c, dc) = scalar(b, node, 0), scalar(b, node, 1)
    dt = np.result_type(da, dc)
    return b.cast(a, dt), b.cast(c, dt), dt


@lowers(*_ARITH)
def arith(b: GraphBuilder, node: Node) -> None:
    """Python arithmetic on two scalars."""
    a, c, dt = _operands(b, node)
    _bind(b, node, b.op1(_ARITH[node.op], [a, c]), dt)


@lowers("ScalarDiv")
def div(b: GraphBuilder, node: Node) -> None:
    """True division (always a float)."""
    a, c, _ = _operands(b, node)
    _bind(b, node, b.op1("Div", [b.cast(a, "float64"), b.cast(c, "float64")]), np.dtype("float64"))


@lowers("ScalarFloorDiv")
def floor_div(b: GraphBuilder, node: Node) -> None:
    """Floor division, rounding toward minus infinity."""
    a, c, dt = _operands(b, node)
    q = b.op1("Floor", [b.op1("Div", [b.cast(a, "float64"), b.cast(c, "float64")])])
    _bind(b, node, b.cast(q, dt), dt)


@lowers("ScalarMod")
def mod(b: GraphBuilder, node: Node) -> None:
    """Python modulo (the sign of the divisor)."""
    a, c, dt = _operands(b, node)
    if dt.kind in "iu":
        _bind(b, node, b.op1("Mod", [a, c], fmod=0), dt)
        return
    q = b.op1("Floor", [b.op1("Div", [a, c])])
    _bind(b, node, b.op1("Sub", [a, b.op1("Mul", [q, c])]), dt)


@lowers(*_COMPARE)
def compare(b: GraphBuilder, node: Node) -> None:
    """Scalar comparison -> bool."""
    a, c, _ = _operands(b, node)
    _bind(b, node, b.op1(_COMPARE[node.op], [a, c]), np.dtype("bool"))


@lowers(*_TENSOR_SCALAR_COMPARE, "NotEqualScalar")
def tensor_scalar_compare(b: GraphBuilder, node: Node) -> None:
    """Tensor compared with a scalar, in the tensor's dtype."""
    v = x(b, node, 0)
    dt = dtype_of(b, node, 0)
    other = x(b, node, 1, dt)
    if node.op == "NotEqualScalar":
        out(b, node, b.op1("Not", [b.op1("Equal", [v, other])]))
    else:
        out(b, node, b.op1(_TENSOR_SCALAR_COMPARE[node.op], [v, other]))


@lowers("ScalarUadd")
def uadd(b: GraphBuilder, node: Node) -> None:
    """+a."""
    a, dt = scalar(b, node, 0)
    _bind(b, node, b.op1("Identity", [a]), dt)


@lowers("ScalarUsub")
def usub(b: GraphBuilder, node: Node) -> None:
    """-a."""
    a, dt = scalar(b, node, 0)
    _bind(b, node, b.op1("Neg", [a]), dt)


@lowers("ScalarLog")
def log(b: GraphBuilder, node: Node) -> None:
    """math.log(a): the natural logarithm, a float."""
    a, _ = scalar(b, node, 0)
    _bind(b, node, b.op1("Log", [b.cast(a, "float64")]), np.dtype("float64"))


@lowers("ScalarBool")
def to_bool(b: GraphBuilder, node: Node) -> None:
    """bool(a)."""
    a, _ = scalar(b, node, 0)
    _bind(b, node, b.cast(a, "bool"), np.dtype("bool"))


@lowers("bool_not", "BoolNot")
def bool_not(b: GraphBuilder, node: Node) -> None:
    """not a."""
    a, _ = scalar(b, node, 0)
    _bind(b, node, b.op1("Not", [b.cast(a, "bool")]), np.dtype("bool"))


@lowers("ScalarCast")
def scalar_cast(b: GraphBuilder, node: Node) -> None:
    """A scalar converted to int, float or bool."""
    a, dt = scalar(b, node, 0)
    target = to_numpy_dtype(const_arg(b, node, "input_y")) or dt
    if target.kind == "f":
        target = np.dtype("float64")
    elif target.kind in "iu":
        # int(x) truncates toward zero; ONNX Cast from float truncates too.
        target = np.dtype("int64")
    _bind(b, node, b.cast(a, target), target)


@lowers("ScalarToTensor")
def scalar_to_tensor(b: GraphBuilder, node: Node) -> None:
    """A 0-d tensor of the requested dtype."""
    a, dt = scalar(b, node, 0)
    target = to_numpy_dtype(const_arg(b, node, "dtype")) or (np.dtype("float32") if dt.kind == "f" else dt)
    out(b, node, b.op1("Identity", [b.cast(a, target)]))


@lowers("TensorToScalar")
def tensor_to_scalar(b: GraphBuilder, node: Node) -> None:
    """The single element of a tensor."""
    v = x(b, node, 0)
    dt = dtype_of(b, node, 0) or np.dtype("float32")
    _bind(b, node, b.op1("Reshape", [v, b.ints([])]), dt)


@lowers("TensorToTuple", "TensorToList")
def tensor_to_tuple(b: GraphBuilder, node: Node) -> None:
    """The elements of a 1-D tensor as scalars (one IR output per element)."""
    v = x(b, node, 0)
    dt = dtype_of(b, node, 0) or np.dtype("int64")
    for i in range(len(node.outputs)):
        _bind(b, node, b.op1("Gather", [v, b.const(np.int64(i))], axis=0), dt, i)


@lowers("TupleToTensor", "ListToTensor")
def tuple_to_tensor(b: GraphBuilder, node: Node) -> None:
    """A 1-D tensor from a tuple of scalars."""
    target = to_numpy_dtype(const_arg(b, node, "dtype"))
    item = node.inputs[0]
    if isinstance(item, Const):
        out(b, node, b.const(np.asarray(item.value, dtype=target)))
        return
    if not isinstance(item, TupleOf):
        out(b, node, b.op1("Identity", [x(b, node, 0, target)]))
        return
    parts = []
    for sub in item.items:
        if isinstance(sub, Const):
            parts.append(b.const(np.asarray([sub.value], dtype=target or _scalar_dtype(sub.value))))
        elif isinstance(sub, Ref):
            parts.append(b.op1("Reshape", [b.lookup(sub.name), b.ints([1])]))
        else:
            raise b.unsupported("nested tuple")
    dt = target or np.dtype("int64")
    out(b, node, b.op1("Concat", [b.cast(p, dt) for p in parts], axis=0))


@lowers("Shape")
def shape(b: GraphBuilder, node: Node) -> None:
    """The shape as int64 scalars: constants where the dim is static, else read at run time."""
    static = shape_of(b, node, 0)
    runtime: str | None = None
    for i, name in enumerate(node.outputs):
        if static is not None and i < len(static) and static[i] >= 0:
            _bind(b, node, b.const(np.int64(static[i])), np.dtype("int64"), i)
            continue
        if runtime is None:
            runtime = b.op1("Shape", [x(b, node, 0)])
        _bind(b, node, b.op1("Gather", [runtime, b.const(np.int64(i))], axis=0), np.dtype("int64"), i)


@lowers("Rank")
def rank(b: GraphBuilder, node: Node) -> None:
    """The number of dimensions."""
    static = shape_of(b, node, 0)
    if static is None:
        raise b.unsupported("the rank is not known at conversion time")
    _bind(b, node, b.const(np.int64(len(static))), np.dtype("int64"))


@lowers("tuple_len", "list_len", "sequence_len", "SequenceLen")
def seq_len(b: GraphBuilder, node: Node) -> None:
    """Length of a tuple known at conversion time."""
    item = node.inputs[0]
    if isinstance(item, TupleOf):
        n = len(item.items)
    elif isinstance(item, Const) and isinstance(item.value, (tuple, list)):
        n = len(item.value)
    else:
        raise b.unsupported("the length of this sequence is only known at run time")
    _bind(b, node, b.const(np.int64(n)), np.dtype("int64"))
