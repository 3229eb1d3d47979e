"""Convolutions and pooling (NCHW only; MindSpore exports NCHW on CPU)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mindinfer.ir import Node

from .._graph import GraphBuilder
from ._base import (
    as_tuple,
    const_arg,
    drop_extra_outputs,
    given,
    lowers,
    out,
    rank_of,
    shape_of,
    x,
)


def _spatial(value: Any, n: int) -> list[int]:
    """The last ``n`` entries of a MindSpore size tuple ((1, 1, h, w) or (h, w) or h)."""
    t = as_tuple(value, n)
    return list(t[-n:]) if len(t) >= n else list(t) * n


def _nchw(b: GraphBuilder, node: Node) -> None:
    fmt = const_arg(b, node, "data_format")
    if fmt not in ("NCHW", "NCDHW", "ND"):
        raise b.unsupported(f"data format {fmt} is not supported; export with NCHW")


def _tblr_to_onnx(pads: Sequence[int]) -> list[int]:
    """MindSpore (top, bottom, left, right) -> ONNX (top, left, bottom, right)."""
    t, bt, lf, rt = (int(p) for p in pads)
    return [t, lf, bt, rt]


@lowers("Conv2D")
def conv2d(b: GraphBuilder, node: Node) -> None:
    """2-D convolution; 'same' pads the extra row/column at the end (ONNX SAME_UPPER)."""
    a = node.attrs
    _nchw(b, node)
    mode = const_arg(b, node, "pad_mode")
    kw: dict[str, Any] = {
        "strides": list(const_arg(b, node, "stride")),
        "dilations": list(const_arg(b, node, "dilation")),
        "group": int(const_arg(b, node, "group")),
        "kernel_shape": list(const_arg(b, node, "kernel_size")),
    }
    shape = shape_of(b, node, 0)
    static = shape is not None and len(shape) == 4 and all(d >= 0 for d in shape[2:])
    if mode == "same" and static and "pad_list" in a:
        # MindSpore computed the 'same' pads for this input size; explicit pads also work with
        # dilation, which onnxruntime refuses for auto_pad SAME_*.
        kw["pads"] = _tblr_to_onnx(as_tuple(a["pad_list"], 4))
    elif mode == "same":
        if any(d != 1 for d in kw["dilations"]):
            raise b.unsupported("'same' padding with dilation needs static spatial input dims")
        kw["auto_pad"] = "SAME_UPPER"
    elif mode == "pad":
        # pad_list is what MindSpore's shape inference wrote; pad is the argument.
        kw["pads"] = _tblr_to_onnx(as_tuple(a["pad_list"], 4) if "pad_list" in a else const_arg(b, node, "pad"))
    out(b, node, b.op1("Conv", [x(b, node, 0), x(b, node, 1)], **kw))


@lowers("Conv2DExt", "Conv2DPadding", "Convolution")
def conv2d_ext(b: GraphBuilder, node: Node) -> None:
    """mint conv2d(input, weight, bias, stride, padding, dilation, groups); padding ints or 'same'/'valid'."""
    transposed = node.op == "Convolution" and bool(const_arg(b, node, "transposed"))
    if transposed:
        raise b.unsupported("transposed Convolution is not supported")
    if node.op == "Convolution" and rank_of(b, node, 1) != 4:
        raise b.unsupported("only 2-D Convolution is supported")
    stride = _spatial(const_arg(b, node, "stride"), 2)
    dilation = _spatial(const_arg(b, node, "dilation"), 2)
    padding = const_arg(b, node, "padding")
    kw: dict[str, Any] = {
        "strides": stride,
        "dilations": dilation,
        "group": int(const_arg(b, node, "groups")),
    }
    if node.op == "Conv2DPadding":
        if padding == "same":
            w = shape_of(b, node, 1)
            if w is None or len(w) != 4:
                raise b.unsupported("'same' padding needs the weight shape")
            total = [d * (k - 1) for d, k in zip(dilation, w[2:])]
            kw["pads"] = [t // 2 for t in total] + [t - t // 2 for t in total]
    else:
        p = _spatial(padding, 2)
        kw["pads"] = p + p
    ins = [x(b, node, 0), x(b, node, 1)] + ([x(b, node, 2)] if given(node, 2) else [])
    out(b, node, b.op1("Conv", ins, **kw))


@lowers("Conv2DTranspose", "Conv2DBackpropInput")
def conv2d_transpose(b: GraphBuilder, node: Node) -> None:
    """Transposed convolution to the exported output size (input 2)."""
    a = node.attrs
    _nchw(b, node)
    size = const_arg(b, node, "input_sizes")
    in_shape, w_shape = shape_of(b, node, 0), shape_of(b, node, 1)
    if size is None or in_shape is None or w_shape is None or any(d < 0 for d in in_shape[2:]):
        raise b.unsupported("Conv2DTranspose needs static spatial input and output sizes")
    strides, dil = list(const_arg(b, node, "stride")), list(const_arg(b, node, "dilation"))
    t, bt, lf, rt = as_tuple(a.get("pad_list", (0, 0, 0, 0)), 4)
    begin, end = [t, lf], [bt, rt]
    out_pad = []
    for i in range(2):
        full = strides[i] * (in_shape[2 + i] - 1) + (w_shape[2 + i] - 1) * dil[i] + 1 - begin[i] - end[i]
        extra = int(as_tuple(size)[2 + i]) - full
        if extra < 0:
            # The size is smaller than the padded result: trim it off the end as ONNX pads would.
            end[i] += -extra
            extra = 0
        out_pad.append(extra)
    kw = {
        "strides": strides,
        "dilations": dil,
        "group": int(const_arg(b, node, "group")),
        "pads": begin + end,
        "output_padding": out_pad if any(out_pad) else None,
    }
    out(b, node, b.op1("ConvTranspose", [x(b, node, 0), x(b, node, 1)], **kw))


@lowers("MaxPool")
def max_pool(b: GraphBuilder, node: Node) -> None:
    """Max pooling, 'same' or 'valid'."""
    kernel = list(const_arg(b, node, "kernel_size"))
    strides = list(const_arg(b, node, "strides"))
    mode = const_arg(b, node, "pad_mode")
    _nchw(b, node)
    auto_pad = "SAME_UPPER" if mode == "same" else "VALID"
    out(b, node, b.op1("MaxPool", [x(b, node, 0)], kernel_shape=kernel, strides=strides, auto_pad=auto_pad))
    drop_extra_outputs(b, node, 1, "pooling argmax")


@lowers("AvgPool")
def avg_pool(b: GraphBuilder, node: Node) -> None:
    """Average pooling; 'same' windows at the border average only the real elements."""
    kernel = list(const_arg(b, node, "kernel_size"))
    strides = list(const_arg(b, node, "strides"))
    mode = const_arg(b, node, "pad_mode")
    _nchw(b, node)
    if mode == "pad":
        raise b.unsupported("AvgPool with pad_mode 'pad' is not supported")
    auto_pad = "SAME_UPPER" if mode == "same" else "VALID"
    out(
        b,
        node,
        b.op1(
            "AveragePool", [x(b, node, 0)], kernel_shape=kernel, strides=strides, auto_pad=auto_pad, count_include_pad=0
        ),
    )


@lowers("AvgPool3D")
def avg_pool3d(b: GraphBuilder, node: Node) -> None:
    """3-D average pooling with explicit pads (what nn.AvgPool2d with padding exports)."""
    a = node.attrs
    _nchw(b, node)
    if int(const_arg(b, node, "divisor_override") or 0):
        raise b.unsupported("AvgPool3D with divisor_override is not supported")
    mode = const_arg(b, node, "pad_mode")
    kw: dict[str, Any] = {
        "kernel_shape": _spatial(const_arg(b, node, "kernel_size"), 3),
        "strides": _spatial(const_arg(b, node, "strides"), 3),
        "ceil_mode": int(bool(const_arg(b, node, "ceil_mode"))),
        "count_include_pad": int(bool(const_arg(b, node, "count_include_pad"))),
    }
    if mode == "same":
        kw["auto_pad"] = "SAME_UPPER"
    elif mode == "pad":
        f, bk, t, bt, lf, rt = as_tuple(a["pad_list"] if "pad_list" in a else const_arg(b, node, "pad"), 6)
        kw["pads"] = [f, t, lf, bk, bt, rt]
    out(b, node, b.op1("AveragePool", [x(b, node, 0)], **kw))


@lowers("MaxPool3D")
def max_pool3d(b: GraphBuilder, node: Node) -> None:
    """3-D max pooling: 'same', 'valid' or explicit pads (front, back, top, bottom, left, right)."""
    a = node.attrs
    _nchw(b, node)
    mode = const_arg(b, node, "pad_mode")
    kw: dict[str, Any] = {
        "kernel_shape": _spatial(const_arg(b, node, "kernel_size"), 3),
        "strides": _spatial(const_arg(b, node, "strides"), 3),
        "ceil_mode": int(bool(const_arg(b, node, "ceil_mode"))),
    }
    if mode == "same":
        kw["auto_pad"] = "SAME_UPPER"
    elif mode == "pad":
        f, bk, t, bt, lf, rt = as_tuple(a.get("pad_list", 0), 6)
        kw["pads"] = [f, t, lf, bk, bt, rt]
    out(b, node, b.op1("MaxPool", [x(b, node, 0)], **kw))


@lowers("MaxPool3DWithArgmax")
def max_pool3d_argmax(b: GraphBuilder, node: Node) -> None:
    """3-D max pooling with symmetric pads, dilation, ceil mode (nn.MaxPool2d with padding)."""
    _nchw(b, node)
    pads = list(as_tuple(const_arg(b, node, "pads"), 3))
    kw = {
        "kernel_shape": _spatial(const_arg(b, node, "ksize"), 3),
        "strides": _spatial(const_arg(b, node, "strides"), 3),
        "dilations": _spatial(const_arg(b, node, "dilation"), 3),
        "pads": pads + pads,
        "ceil_mode": int(bool(const_arg(b, node, "ceil_mode"))),
    }
    out(b, node, b.op1("MaxPool", [x(b, node, 0)], **kw))
    drop_extra_outputs(b, node, 1, "pooling argmax")


@lowers("AdaptiveAvgPool2D", "AdaptiveMaxPool2D", "AdaptiveAvgPool2DExt")
def adaptive_pool(b: GraphBuilder, node: Node) -> None:
    """Adaptive pooling: global pooling, or bins [floor(i*n/o), ceil((i+1)*n/o)) per axis."""
    size = const_arg(b, node, "output_size")
    is_max = node.op == "AdaptiveMaxPool2D"
    shape = shape_of(b, node, 0)
    if shape is None:
        raise b.unsupported("adaptive pooling needs the input rank")
    sizes = [
        None if s is None or s == -1 else int(s) for s in (size if isinstance(size, (tuple, list)) else (size,) * 2)
    ]
    v = x(b, node, 0)
    if sizes == [1, 1]:
        out(b, node, b.op1("GlobalMaxPool" if is_max else "GlobalAveragePool", [v]))
    else:
        reduce_op = "ReduceMax" if is_max else "ReduceMean"
        for axis, osize in zip((len(shape) - 2, len(shape) - 1), sizes):
            n = shape[axis]
            if osize is None or osize == n:
                continue
            if n < 0:
                raise b.unsupported("adaptive pooling to a size other than 1 needs static spatial dims")
            v = _bins(b, v, axis, n, osize, reduce_op)
        out(b, node, v if v != x(b, node, 0) else b.op1("Identity", [v]))
    drop_extra_outputs(b, node, 1, "pooling argmax")


def _bins(b: GraphBuilder, v: str, axis: int, n: int, o: int, reduce_op: str) -> str:
    """Reduce each adaptive bin of ``axis`` (static sizes): one Slice + Reduce per bin, then Concat."""
    parts = []
    for i in range(o):
        start, stop = (i * n) // o, -((-(i + 1) * n) // o)
        piece = b.op1("Slice", [v, b.ints([start]), b.ints([stop]), b.ints([axis])])
        parts.append(b.reduce(reduce_op, piece, [axis], True))
    return b.op1("Concat", parts, axis=axis)
