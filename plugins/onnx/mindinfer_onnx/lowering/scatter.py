"""Scatter primitives: TensorScatter*, ScatterNd*, Scatter* by rows (ONNX ScatterND), element scatters
along a dim (ONNX ScatterElements).

Parameter-updating forms (``ScatterNdAdd(param, ...)``) are computed out of place, as in the cpu
plugin: the result is the Parameter's value after one update. Sub and Div become Add of the negated
updates and Mul by their reciprocals (ScatterND has no sub/div reduction). Max and Min reductions need
opset 18; below it they are computed densely (one mask row per update), which needs static shapes.
"""

from __future__ import annotations

import numpy as np
from mindinfer.ir import Node

from .._graph import GraphBuilder
from ._base import const_arg, dtype_of, lowers, out, out_dtype, shape_of, x

_SUFFIXES = ("Update", "Add", "Sub", "Max", "Min", "Mul", "Div")
_REDUCTION = {"Update": "none", "Add": "add", "Sub": "add", "Mul": "mul", "Div": "mul", "Max": "max", "Min": "min"}


def _suffix(op: str) -> str:
    return next(s for s in _SUFFIXES if op.endswith(s))


def _updates(b: GraphBuilder, node: Node, suffix: str, dt: np.dtype | None) -> str:
    upd = x(b, node, 2, dt)
    if suffix == "Sub":
        return b.op1("Neg", [upd])
    if suffix == "Div":
        return b.op1("Reciprocal", [upd])
    return upd


def _scatter_nd(
    b: GraphBuilder, node: Node, data: str, indices: str, suffix: str, dt: np.dtype | None, rows: bool = False
) -> str:
    upd = _updates(b, node, suffix, dt)
    reduction = _REDUCTION[suffix]
    if reduction in ("max", "min") and b.opset < 18:
        ishape = shape_of(b, node, 1)
        ishape = (*ishape, 1) if rows and ishape is not None else ishape
        return _dense_extreme(b, node, data, indices, ishape, upd, reduction)
    if reduction != "none" and b.opset < 16:
        raise b.unsupported(f"ScatterND with reduction '{reduction}' needs ONNX opset >= 16")
    return b.op1("ScatterND", [data, indices, upd], reduction=None if reduction == "none" else reduction)


def _dense_extreme(
    b: GraphBuilder, node: Node, data: str, indices: str, ishape: tuple[int, ...] | None, upd: str, reduction: str
) -> str:
    """ScatterND max/min below opset 18: a (updates x slots) mask picks each slot's extreme update."""
    dshape = shape_of(b, node, 0)
    if dshape is None or ishape is None or any(d < 0 for d in (*dshape, *ishape)):
        raise b.unsupported(f"{node.op} below ONNX opset 18 needs static shapes (or use --opset 18)")
    k = ishape[-1]
    n = int(np.prod(ishape[:-1], dtype=np.int64))
    slots = int(np.prod(dshape[:k], dtype=np.int64))
    tail = list(dshape[k:])
    strides = [int(np.prod(dshape[j + 1 : k], dtype=np.int64)) for j in range(k)]
    idx = b.op1("Reshape", [indices, b.ints([n, k])])
    flat = b.op1("ReduceSum", [b.op1("Mul", [idx, b.ints(strides)]), b.ints([1])], keepdims=0)
    mask = b.op1("Equal", [b.unsqueeze(flat, [1]), b.ints(list(range(slots)))])  # (n, slots)
    wide = b.op1("Reshape", [mask, b.ints([n, slots] + [1] * len(tail))])
    vals = b.op1("Reshape", [upd, b.ints([n, 1] + tail)])
    dt = np.dtype(out_dtype(node) or "float32")
    far = np.finfo(dt).max if dt.kind == "f" else np.iinfo(dt).max
    fill = b.const(-far if reduction == "max" else far, dt)
    picked = b.reduce(
        "ReduceMax" if reduction == "max" else "ReduceMin", b.op1("Where", [wide, vals, fill]), [0], False
    )
    hit = b.reduce("ReduceMax", b.cast(wide, "int32"), [0], False)
    both = b.op1("Max" if reduction == "max" else "Min", [b.op1("Reshape", [data, b.ints([slots] + tail)]), picked])
    flat_data = b.op1("Reshape", [data, b.ints([slots] + tail)])
    chosen = b.op1("Where", [b.cast(hit, "bool"), both, flat_data])
    return b.op1("Reshape", [chosen, b.ints(list(dshape))])


@lowers(*(f"TensorScatter{s}" for s in _SUFFIXES), *(f"ScatterNd{s}" for s in _SUFFIXES))
def tensor_scatter(b: GraphBuilder, node: Node) -> None:
    """ScatterND on a copy of the data with index rows (..., K)."""
    dt = out_dtype(node) or dtype_of(b, node, 0)
    data = x(b, node, 0, dt)
    out(b, node, _scatter_nd(b, node, data, b.cast(x(b, node, 1), "int64"), _suffix(node.op), dt))


@lowers(*(f"Scatter{s}" for s in _SUFFIXES))
def scatter_rows(b: GraphBuilder, node: Node) -> None:
    """Rows of the data (axis 0) chosen by an index tensor of any shape."""
    dt = out_dtype(node) or dtype_of(b, node, 0)
    rows = b.unsqueeze(b.cast(x(b, node, 1), "int64"), [-1])
    out(b, node, _scatter_nd(b, node, x(b, node, 0, dt), rows, _suffix(node.op), dt, rows=True))


@lowers("ScatterNd")
def scatter_nd(b: GraphBuilder, node: Node) -> None:
    """Updates summed into zeros of a constant shape."""
    if b.opset < 16:  # duplicate indices must add up: ScatterND's reduction attribute came in opset 16
        raise b.unsupported("ScatterND with reduction 'add' needs ONNX opset >= 16")
    shape = [int(d) for d in np.asarray(const_arg(b, node, "shape")).reshape(-1)]
    dt = out_dtype(node) or dtype_of(b, node, 1) or np.dtype("float32")
    zeros = b.const(np.zeros(shape, dt))
    out(b, node, b.op1("ScatterND", [zeros, b.cast(x(b, node, 0), "int64"), x(b, node, 1, dt)], reduction="add"))


#: Element scatters' ``reduce`` as core decodes it (``node.arg``: MindSpore's codes 0, 1, 2 become these
#: names), to ONNX ScatterElements' reduction.
_ELEMENT_REDUCE = {"none": "none", "add": "add", "multiply": "mul"}


def _element_reduce(b: GraphBuilder, value: object) -> str:
    reduction = _ELEMENT_REDUCE.get(value) if isinstance(value, str) else None
    if reduction is None:
        raise b.unsupported(f"reduce={value!r}")
    return reduction


def _scatter_elements(b: GraphBuilder, node: Node, axis: int, src: str | None, value_index: int, reduce: str) -> None:
    dt = out_dtype(node) or dtype_of(b, node, 0)
    data = x(b, node, 0, dt)
    index_pos = 1 if node.op == "TensorScatterElements" else 2
    index = b.cast(x(b, node, index_pos), "int64")
    ishape = shape_of(b, node, index_pos)
    if src is None:  # a scalar value: one update per index
        src = b.op1("Expand", [x(b, node, value_index, dt), b.op1("Shape", [index])])
    else:
        sshape = shape_of(b, node, value_index)
        if ishape is None or sshape is None or any(d < 0 for d in (*ishape, *sshape)):
            raise b.unsupported("element scatter needs static index and src shapes")
        if tuple(sshape) != tuple(ishape):  # only the leading block of a larger src is used
            src = b.op1(
                "Slice", [src, b.ints([0] * len(ishape)), b.ints(list(ishape)), b.ints(list(range(len(ishape))))]
            )
    if reduce != "none" and b.opset < 16:
        raise b.unsupported(f"ScatterElements with reduction '{reduce}' needs ONNX opset >= 16")
    attrs = {"axis": axis, "reduction": None if reduce == "none" else reduce}
    out(b, node, b.op1("ScatterElements", [data, index, src], **attrs))


@lowers("TensorScatterElements")
def tensor_scatter_elements(b: GraphBuilder, node: Node) -> None:
    """ScatterElements along ``axis`` with reduction none/add."""
    reduce = _element_reduce(b, const_arg(b, node, "reduce"))
    dt = out_dtype(node) or dtype_of(b, node, 0)
    _scatter_elements(b, node, int(const_arg(b, node, "axis")), x(b, node, 2, dt), 2, reduce)


@lowers("Scatter")
def scatter(b: GraphBuilder, node: Node) -> None:
    """mint.scatter(input, dim, index, src, reduce)."""
    reduce = _element_reduce(b, const_arg(b, node, "reduce"))
    dt = out_dtype(node) or dtype_of(b, node, 0)
    _scatter_elements(b, node, int(const_arg(b, node, "dim")), x(b, node, 3, dt), 3, reduce)


@lowers("ScatterValue")
def scatter_value(b: GraphBuilder, node: Node) -> None:
    """mint.scatter(input, dim, index, value, reduce)."""
    reduce = _element_reduce(b, const_arg(b, node, "reduce"))
    _scatter_elements(b, node, int(const_arg(b, node, "dim")), None, 3, reduce)
