"""Reductions (an empty or absent axis list reduces every axis) and arg-max/min."""

from __future__ import annotations

import numpy as np
from mindinfer.ir import Node

from .._graph import GraphBuilder
from ._base import RUNTIME, arg, as_tuple, const_arg, dtype_of, lowers, out, out_dtype, shape_of, x

_REDUCE = {
    "ReduceMean": "ReduceMean",
    "MeanExt": "ReduceMean",
    "ReduceSum": "ReduceSum",
    "SumExt": "ReduceSum",
    "ReduceMax": "ReduceMax",
    "ReduceMin": "ReduceMin",
    "ReduceProd": "ReduceProd",
    "ProdExt": "ReduceProd",
}


def _axes(b: GraphBuilder, node: Node) -> list[int]:
    axis = arg(node, "axis", "dim")
    if axis is RUNTIME:
        raise b.unsupported("reduction axes computed at run time are not supported")
    return [] if axis is None else list(as_tuple(axis))


@lowers(*_REDUCE)
def reduce(b: GraphBuilder, node: Node) -> None:
    """Reduce over the given axes; the result is cast to the exported output dtype."""
    keep = bool(const_arg(b, node, "keep_dims", "keepdim"))
    v = b.reduce(_REDUCE[node.op], x(b, node, 0), _axes(b, node), keep)
    dt = out_dtype(node)
    out(b, node, b.cast(v, dt) if dt is not None else v)


@lowers("ReduceAll", "ReduceAny")
def reduce_bool(b: GraphBuilder, node: Node) -> None:
    """Logical and/or over axes: min/max of the booleans as int32."""
    keep = bool(const_arg(b, node, "keep_dims"))
    as_int = b.cast(x(b, node, 0), "int32")
    op = "ReduceMin" if node.op == "ReduceAll" else "ReduceMax"
    out(b, node, b.cast(b.reduce(op, as_int, _axes(b, node), keep), "bool"))


@lowers("Max", "Min")
def reduce_all(b: GraphBuilder, node: Node) -> None:
    """Max or min over every element (a 0-d result)."""
    out(b, node, b.reduce("ReduceMax" if node.op == "Max" else "ReduceMin", x(b, node, 0), [], False))


@lowers("ArgMaxWithValue", "ArgMinWithValue")
def arg_with_value(b: GraphBuilder, node: Node) -> None:
    """(index, value) of the max/min along axis; ties give the first index, like MindSpore."""
    axis = int(const_arg(b, node, "axis"))
    keep = bool(const_arg(b, node, "keep_dims"))
    v = x(b, node, 0)
    is_max = node.op == "ArgMaxWithValue"
    index = b.op1("ArgMax" if is_max else "ArgMin", [v], axis=axis, keepdims=int(keep))
    value = b.reduce("ReduceMax" if is_max else "ReduceMin", v, [axis], keep)
    out(b, node, b.cast(index, out_dtype(node, 0) or "int32"), 0)
    out(b, node, value, 1)


@lowers("Argmax", "Argmin", "ArgMaxExt", "ArgMinExt")
def argmax(b: GraphBuilder, node: Node) -> None:
    """Index of the max/min along axis (Argmax(x, axis, output_type); ArgMaxExt(x, dim, keepdim))."""
    axis = const_arg(b, node, "axis", "dim")
    keep = bool(const_arg(b, node, "keepdim")) if node.op.endswith("Ext") else False
    v = x(b, node, 0)
    if axis is None:
        v = b.op1("Reshape", [v, b.ints([-1])])
        axis = 0
    op = "ArgMax" if node.op.startswith("ArgMax") or node.op == "Argmax" else "ArgMin"
    index = b.op1(op, [v], axis=int(axis), keepdims=int(keep))
    out(b, node, b.cast(index, out_dtype(node) or "int32"))


@lowers("MaxDim", "MinDim")
def max_min_dim(b: GraphBuilder, node: Node) -> None:
    """(values, int64 indices) of the max/min along dim (mint.max/min(x, dim, keepdim)); ties give the first."""
    dim = int(const_arg(b, node, "dim"))
    keep = bool(const_arg(b, node, "keepdim"))
    v = x(b, node, 0)
    is_max = node.op == "MaxDim"
    index = b.op1("ArgMax" if is_max else "ArgMin", [v], axis=dim, keepdims=int(keep))
    out(b, node, b.reduce("ReduceMax" if is_max else "ReduceMin", v, [dim], keep), 0)
    out(b, node, b.cast(index, out_dtype(node, 1) or "int64"), 1)


@lowers("LogSumExp")
def log_sum_exp(b: GraphBuilder, node: Node) -> None:
    """log(sum(exp(x))) over dim, shifted by the maximum so that exp cannot overflow."""
    axes = _axes(b, node)
    keep = bool(const_arg(b, node, "keepdim"))
    v = x(b, node, 0)
    m = b.reduce("ReduceMax", v, axes, True)
    s = b.reduce("ReduceSum", b.op1("Exp", [b.op1("Sub", [v, m])]), axes, keep)
    shift = m if keep else b.reduce("ReduceMax", v, axes, False)
    out(b, node, b.op1("Add", [b.op1("Log", [s]), shift]))


@lowers("ReduceStd")
def reduce_std(b: GraphBuilder, node: Node) -> None:
    """(std, mean) over axes; unbiased divides by N - 1."""
    axes = _axes(b, node)
    unbiased = bool(const_arg(b, node, "unbiased"))
    keep = bool(const_arg(b, node, "keep_dims"))
    std, mean = _moments(b, node, axes, 1 if unbiased else 0, keep, sqrt=True)
    out(b, node, std, 0)
    out(b, node, mean, 1)


@lowers("Std", "Var")
def std_var(b: GraphBuilder, node: Node) -> None:
    """mint std/var(input, dim, correction, keepdim)."""
    axes = _axes(b, node)
    correction = int(const_arg(b, node, "correction"))
    keep = bool(const_arg(b, node, "keepdim"))
    out(b, node, _moments(b, node, axes, correction, keep, sqrt=node.op == "Std")[0])


def _moments(b: GraphBuilder, node: Node, axes: list[int], correction: int, keep: bool, sqrt: bool) -> tuple[str, str]:
    """(std or var, mean) with sum((x - mean)^2) / (N - correction)."""
    v = x(b, node, 0)
    mean = b.reduce("ReduceMean", v, axes, True)
    d = b.op1("Sub", [v, mean])
    ss = b.reduce("ReduceSum", b.op1("Mul", [d, d]), axes, keep)
    shape = b.op1("Shape", [v])
    sizes = b.op1("Gather", [shape, b.ints(axes)], axis=0) if axes else shape
    n = b.cast(b.reduce("ReduceProd", sizes, [0], False), dtype_of(b, node, 0) or "float32")
    denom = b.op1("Sub", [n, b.const(correction, dtype_of(b, node, 0) or "float32")])
    var = b.op1("Div", [ss, denom])
    result = b.op1("Sqrt", [var]) if sqrt else var
    return result, (mean if keep else b.reduce("ReduceMean", v, axes, False))


@lowers("LpNorm")
def lp_norm(b: GraphBuilder, node: Node) -> None:
    """(sum |x|^p)^(1/p) over axes (p = 1 or 2)."""
    p = int(const_arg(b, node, "p"))
    axes = list(as_tuple(const_arg(b, node, "axis")))
    keep = bool(const_arg(b, node, "keep_dims"))
    if p not in (1, 2):
        raise b.unsupported(f"LpNorm with p={p} is not supported")
    out(b, node, b.reduce("ReduceL2" if p == 2 else "ReduceL1", x(b, node, 0), axes, keep))


@lowers("TopK")
def top_k(b: GraphBuilder, node: Node) -> None:
    """The k largest values along the last axis and their indices (lower index first on ties)."""
    k = b.ints([int(const_arg(b, node, "k"))])
    values, indices = b.op("TopK", [x(b, node, 0), k], 2, axis=-1, largest=1, sorted=1)
    out(b, node, values, 0)
    out(b, node, b.cast(indices, out_dtype(node, 1) or "int32"), 1)


@lowers("CumSum", "CumsumExt")
def cumsum(b: GraphBuilder, node: Node) -> None:
    """Running sum along an axis, optionally exclusive and/or reversed."""
    axis = b.ints([int(const_arg(b, node, "axis", "dim"))])
    if node.op == "CumsumExt":
        exclusive, reverse = 0, 0
        dt = out_dtype(node)
    else:
        exclusive = int(bool(const_arg(b, node, "exclusive")))
        reverse = int(bool(const_arg(b, node, "reverse")))
        dt = None
    v = x(b, node, 0, dt)
    out(b, node, b.op1("CumSum", [v, b.op1("Reshape", [axis, b.ints([])])], exclusive=exclusive, reverse=reverse))


# ONNX has no CumProd; a chain of Muls over slices is exact (a log/exp trick is not, and fails on
# zeros and negatives). The chain grows with the axis, so it is refused beyond this length.
_CUMPROD_MAX_LEN = 256


@lowers("CumProd")
def cumprod(b: GraphBuilder, node: Node) -> None:
    """Running product along an axis of static length, optionally exclusive and/or reversed."""
    shape = shape_of(b, node, 0)
    axis = int(const_arg(b, node, "axis"))
    exclusive = bool(const_arg(b, node, "exclusive"))
    reverse = bool(const_arg(b, node, "reverse"))
    if shape is None or not -len(shape) <= axis < len(shape) or shape[axis] < 0:
        raise b.unsupported("CumProd needs a static length along its axis", "CumProd")
    axis %= len(shape)
    n = shape[axis]
    if n > _CUMPROD_MAX_LEN:
        raise b.unsupported(f"CumProd along an axis of {n} > {_CUMPROD_MAX_LEN} elements", "CumProd")
    v = x(b, node, 0)
    axes = b.ints([axis])
    parts = [b.op1("Slice", [v, b.ints([i]), b.ints([i + 1]), axes]) for i in range(n)]
    order = list(range(n))[::-1] if reverse else list(range(n))
    running: list[str] = []
    acc: str | None = None
    for i in order:
        if exclusive:
            if acc is None:  # the empty product: ones shaped like one slice
                one = b.const(np.ones((), dtype=dtype_of(b, node, 0) or np.float32))
                running.append(b.op1("Expand", [one, b.op1("Shape", [parts[i]])]))
            else:
                running.append(acc)
            acc = parts[i] if acc is None else b.op1("Mul", [acc, parts[i]])
        else:
            acc = parts[i] if acc is None else b.op1("Mul", [acc, parts[i]])
            running.append(acc)
    if reverse:
        running.reverse()
    out(b, node, b.op1("Concat", running, axis=axis) if n > 1 else running[0])
