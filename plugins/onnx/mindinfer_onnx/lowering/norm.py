"""Normalizations and softmax."""

from __future__ import annotations

import numpy as np
from mindinfer.ir import Node

from .._graph import GraphBuilder
from ._base import as_tuple, const_arg, drop_extra_outputs, given, lowers, out, out_dtype, rank_of, x


@lowers("BatchNorm")
def batch_norm(b: GraphBuilder, node: Node) -> None:
    """Inference batch norm with the moving statistics (x, scale, bias, mean, variance, ...)."""
    if const_arg(b, node, "is_training"):
        raise b.unsupported("BatchNorm in training mode (batch statistics) is not supported; export in eval mode")
    if const_arg(b, node, "data_format") not in ("NCHW", "ND"):
        raise b.unsupported("BatchNorm in NHWC format is not supported")
    eps = float(const_arg(b, node, "epsilon"))
    ins = [x(b, node, i) for i in range(5)]
    out(b, node, b.op1("BatchNormalization", ins, epsilon=eps))
    drop_extra_outputs(b, node, 1, "BatchNorm batch statistics are only computed in training")


def _layer_norm(
    b: GraphBuilder, node: Node, v: str, gamma: str | None, beta: str | None, axis: int, eps: float, params_axis: int
) -> None:
    rank = rank_of(b, node, 0)
    axis %= rank
    params_axis %= rank
    dt = out_dtype(node) or np.dtype("float32")
    if b.opset >= 17 and gamma is not None and params_axis >= axis:
        ins = [v, gamma] + ([beta] if beta is not None else [])
        out(b, node, b.op1("LayerNormalization", ins, axis=axis, epsilon=eps))
    else:
        axes = list(range(axis, rank))
        mean = b.reduce("ReduceMean", v, axes, True)
        d = b.op1("Sub", [v, mean])
        var = b.reduce("ReduceMean", b.op1("Mul", [d, d]), axes, True)
        y = b.op1("Div", [d, b.op1("Sqrt", [b.op1("Add", [var, b.const(eps, dt)])])])
        if gamma is not None:
            y = b.op1("Mul", [y, gamma])
        if beta is not None:
            y = b.op1("Add", [y, beta])
        out(b, node, y)
    drop_extra_outputs(b, node, 1, "LayerNorm mean/rstd outputs are not lowered")


@lowers("LayerNorm", "LayerNormV3")
def layer_norm(b: GraphBuilder, node: Node) -> None:
    """(x - mean) / sqrt(var + eps) * gamma + beta over axes begin_norm_axis...

    LayerNormV3 has LayerNorm's arguments (x, gamma, beta, begin_norm_axis, begin_params_axis, epsilon).
    """
    axis = int(const_arg(b, node, "begin_norm_axis"))
    params_axis = int(const_arg(b, node, "begin_params_axis"))
    eps = float(const_arg(b, node, "epsilon"))
    _layer_norm(b, node, x(b, node, 0), x(b, node, 1), x(b, node, 2), axis, eps, params_axis)


@lowers("LayerNormExt")
def layer_norm_ext(b: GraphBuilder, node: Node) -> None:
    """mint layer_norm(input, normalized_shape, weight, bias, eps)."""
    shape = as_tuple(const_arg(b, node, "normalized_shape"))
    axis = rank_of(b, node, 0) - len(shape)
    gamma = x(b, node, 2) if given(node, 2) else None
    beta = x(b, node, 3) if given(node, 3) else None
    eps = float(const_arg(b, node, "eps"))
    _layer_norm(b, node, x(b, node, 0), gamma, beta, axis, eps, axis)


@lowers("GroupNorm")
def group_norm(b: GraphBuilder, node: Node) -> None:
    """Normalize over (C/G, H, W) per group, then per-channel gamma and beta."""
    groups = int(const_arg(b, node, "num_groups"))
    eps = float(const_arg(b, node, "eps"))
    rank = rank_of(b, node, 0)
    dt = out_dtype(node) or np.dtype("float32")
    v = x(b, node, 0)
    grouped = b.op1("Reshape", [v, b.ints([0, groups, -1])])
    mean = b.reduce("ReduceMean", grouped, [2], True)
    d = b.op1("Sub", [grouped, mean])
    var = b.reduce("ReduceMean", b.op1("Mul", [d, d]), [2], True)
    y = b.op1("Div", [d, b.op1("Sqrt", [b.op1("Add", [var, b.const(eps, dt)])])])
    y = b.op1("Reshape", [y, b.op1("Shape", [v])])
    channel_axes = list(range(1, rank - 1))
    if given(node, 2):
        y = b.op1("Mul", [y, b.unsqueeze(x(b, node, 2), channel_axes) if channel_axes else x(b, node, 2)])
    if given(node, 3):
        y = b.op1("Add", [y, b.unsqueeze(x(b, node, 3), channel_axes) if channel_axes else x(b, node, 3)])
    out(b, node, y)
    drop_extra_outputs(b, node, 1, "GroupNorm mean/rstd outputs are not lowered")


@lowers("RmsNorm")
def rms_norm(b: GraphBuilder, node: Node) -> None:
    """RmsNorm(x, gamma, epsilon) -> (x * rstd * gamma, rstd), rstd = 1 / sqrt(mean(x^2) + eps).

    The mean runs over the trailing axes that gamma covers (at least the last one).
    """
    eps = float(const_arg(b, node, "epsilon"))
    rank = rank_of(b, node, 0)
    axes = list(range(rank - max(rank_of(b, node, 1), 1), rank))
    dt = out_dtype(node) or np.dtype("float32")
    v = x(b, node, 0)
    ms = b.reduce("ReduceMean", b.op1("Mul", [v, v]), axes, True)
    rstd = b.op1("Reciprocal", [b.op1("Sqrt", [b.op1("Add", [ms, b.const(eps, dt)])])])
    out(b, node, b.op1("Mul", [b.op1("Mul", [v, rstd]), x(b, node, 1, dt)]), 0)
    if len(node.outputs) > 1:
        out(b, node, rstd, 1)


def _axis(b: GraphBuilder, node: Node, default: int = -1) -> int:
    axis = const_arg(b, node, "axis", "dim")
    axis = default if axis is None else axis
    t = as_tuple(axis)
    if len(t) != 1:
        raise b.unsupported(f"{node.op} over several axes {t} is not supported")
    return t[0]


@lowers("Softmax")
def softmax(b: GraphBuilder, node: Node) -> None:
    """exp(x) / sum(exp(x)) along one axis."""
    out(b, node, b.op1("Softmax", [x(b, node, 0)], axis=_axis(b, node)))


@lowers("LogSoftmax", "LogSoftmaxExt")
def log_softmax(b: GraphBuilder, node: Node) -> None:
    """log(softmax(x)) along one axis."""
    out(b, node, b.op1("LogSoftmax", [x(b, node, 0)], axis=_axis(b, node)))


@lowers("L2Normalize")
def l2_normalize(b: GraphBuilder, node: Node) -> None:
    """x / sqrt(max(sum(x^2, axis), epsilon))."""
    axes = list(as_tuple(const_arg(b, node, "axis")))
    eps = float(const_arg(b, node, "epsilon"))
    dt = out_dtype(node) or np.dtype("float32")
    v = x(b, node, 0)
    ss = b.reduce("ReduceSum", b.op1("Mul", [v, v]), axes, True)
    out(b, node, b.op1("Div", [v, b.op1("Sqrt", [b.op1("Max", [ss, b.const(eps, dt)])])]))
