"""Matrix products and bias addition."""

from __future__ import annotations

from mindinfer.ir import Node

from .._graph import GraphBuilder
from ._base import const_arg, given, lowers, out, out_dtype, rank_of, x


def _transposed(b: GraphBuilder, node: Node, index: int) -> str:
    """Input ``index`` with its last two axes swapped."""
    rank = rank_of(b, node, index)
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    return b.op1("Transpose", [x(b, node, index, out_dtype(node))], perm=perm)


def _operand(b: GraphBuilder, node: Node, index: int, transpose: bool) -> str:
    return _transposed(b, node, index) if transpose else x(b, node, index, out_dtype(node))


@lowers("MatMul", "BatchMatMul")
def matmul(b: GraphBuilder, node: Node) -> None:
    """a @ b with optional transposes of either operand (numpy broadcasting of batch axes)."""
    ta = bool(const_arg(b, node, "transpose_a"))
    tb = bool(const_arg(b, node, "transpose_b"))
    out(b, node, b.op1("MatMul", [_operand(b, node, 0, ta), _operand(b, node, 1, tb)]))


@lowers("MatMulExt", "BatchMatMulExt", "Mm")
def matmul_ext(b: GraphBuilder, node: Node) -> None:
    """mint matmul / bmm / mm: numpy semantics."""
    out(b, node, b.op1("MatMul", [x(b, node, 0, out_dtype(node)), x(b, node, 1, out_dtype(node))]))


@lowers("Dense")
def dense(b: GraphBuilder, node: Node) -> None:
    """x @ w.T + bias."""
    y = b.op1("MatMul", [x(b, node, 0), _transposed(b, node, 1) if rank_of(b, node, 1) == 2 else x(b, node, 1)])
    if given(node, 2):
        y = b.op1("Add", [y, x(b, node, 2)])
    out(b, node, y)


@lowers("BiasAdd")
def bias_add(b: GraphBuilder, node: Node) -> None:
    """x + bias along the channel axis (axis 1 in NCHW, the last axis in NHWC)."""
    fmt = const_arg(b, node, "data_format")
    rank = rank_of(b, node, 0)
    bias = x(b, node, 1, out_dtype(node))
    if fmt in ("NCHW", "NCDHW", "ND") and rank > 2:
        bias = b.unsqueeze(bias, list(range(1, rank - 1)))
    out(b, node, b.op1("Add", [x(b, node, 0), bias]))
