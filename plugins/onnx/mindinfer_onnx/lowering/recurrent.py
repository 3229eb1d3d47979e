"""Recurrent layers. MindSpore exports nn.LSTM as one single-layer, one-direction LSTM primitive per
layer and direction, with its weights flattened into one tensor (w_ih, w_hh, b_ih + b_hh)."""

from __future__ import annotations

import numpy as np
from mindinfer.ir import Node

from .._graph import GraphBuilder
from ._base import const_arg, drop_extra_outputs, dtype_of, lowers, out, x

# MindSpore's gate blocks are (input, forget, cell, output); ONNX wants (input, output, forget, cell).
_TO_ONNX_GATES = [0, 3, 1, 2]


def _gates(b: GraphBuilder, flat: str, start: int, hidden: int, width: int) -> str:
    """Rows [start, start + 4*hidden*width) of the flat weights as ONNX's [1, 4*hidden, width], gates
    reordered. Computed from initializers, so onnxruntime folds it once at session creation."""
    size = 4 * hidden * width
    block = b.op1("Slice", [flat, b.ints([start]), b.ints([start + size])])
    block = b.op1("Reshape", [block, b.ints([4, hidden, width])])
    block = b.op1("Gather", [block, b.ints(_TO_ONNX_GATES)], axis=0)
    return b.op1("Reshape", [block, b.ints([1, 4 * hidden, width])])


@lowers("LSTM")
def lstm(b: GraphBuilder, node: Node) -> None:
    """(y, h_n, c_n) of one LSTM layer over x [seq, batch, input] from (h0, c0)."""
    hidden, width = int(const_arg(b, node, "hidden_size")), int(const_arg(b, node, "input_size"))
    layers, bidirectional, proj = (const_arg(b, node, n) for n in ("num_layers", "bidirectional", "proj_size"))
    if int(layers) != 1 or bidirectional or int(proj or 0):
        raise b.unsupported("only single-layer, one-direction LSTM nodes without projection are supported")
    has_bias = bool(const_arg(b, node, "has_bias"))
    flat = b.op1("Reshape", [x(b, node, 3), b.ints([-1])])
    w = _gates(b, flat, 0, hidden, width)
    r = _gates(b, flat, 4 * hidden * width, hidden, hidden)
    ins = [x(b, node, 0), w, r]
    if has_bias:
        bias = _gates(b, flat, 4 * hidden * (width + hidden), hidden, 1)
        bias = b.op1("Reshape", [bias, b.ints([1, 4 * hidden])])
        zeros = b.const(np.zeros((1, 4 * hidden), dtype_of(b, node, 0) or np.float32))
        ins.append(b.op1("Concat", [bias, zeros], axis=1))
    else:
        ins.append("")
    ins += ["", x(b, node, 1), x(b, node, 2)]
    y, h, c = b.op("LSTM", ins, 3, hidden_size=hidden, direction="forward")
    out(b, node, b.squeeze(y, [1]), 0)
    out(b, node, h, 1)
    out(b, node, c, 2)
    drop_extra_outputs(b, node, 3, "LSTM workspace outputs exist only for training")
