"""GridSampler2D as ONNX GridSample (opset 16): bilinear/nearest, zeros/border/reflection, align_corners."""

from __future__ import annotations

import numpy as np
from mindinfer.ir import Node

from .._graph import GraphBuilder
from ._base import const_arg, lowers, out, out_dtype, x


@lowers("GridSampler2D")
def grid_sampler_2d(b: GraphBuilder, node: Node) -> None:
    """GridSample with the same mode, padding and corner alignment."""
    if b.opset < 16:
        raise b.unsupported("GridSample needs ONNX opset >= 16")
    mode = str(const_arg(b, node, "interpolation_mode")).lower()
    padding = str(const_arg(b, node, "padding_mode")).lower()
    align = bool(const_arg(b, node, "align_corners"))
    if mode not in ("bilinear", "nearest"):
        raise b.unsupported(f"interpolation_mode={mode!r} (bilinear and nearest are supported)")
    if padding not in ("zeros", "border", "reflection"):
        raise b.unsupported(f"padding_mode={padding!r}")
    if b.opset >= 20 and mode == "bilinear":
        mode = "linear"  # renamed in opset 20
    dt = out_dtype(node)
    grid = _finite_grid(b, x(b, node, 1, dt), padding, np.dtype(dt or "float32"))
    out(
        b,
        node,
        b.op1(
            "GridSample",
            [x(b, node, 0, dt), grid],
            mode=mode,
            padding_mode=padding,
            align_corners=int(align),
        ),
    )


def _finite_grid(b: GraphBuilder, grid: str, padding: str, dt: np.dtype) -> str:
    """NaN and infinite grid values as MindSpore's kernel treats them (onnxruntime's result is undefined):
    outside the image with zeros padding; the far edge (normalized 1) with border/reflection padding,
    where MindSpore's std::min(limit, std::max(c, 0)) clipping turns NaN into the limit."""
    bad = b.op1("Or", [b.op1("IsInf", [grid]), b.op1("IsNaN", [grid])])
    fill = b.const(-3.0 if padding == "zeros" else 1.0, dt)
    return b.op1("Where", [bad, fill, grid])
