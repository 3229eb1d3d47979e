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
    """NaN and infinite grid values as MindSpore's kernel treats them (onnxruntime's result is undefined).

    Zeros padding: outside the image. Border: MindSpore clips with ``std::min(limit, std::max(c, 0))``,
    so -inf goes to the near edge (normalized -1) and +inf and NaN to the far one (normalized 1).
    Reflection: reflecting an infinity gives NaN, which that clipping sends to the far edge, so every
    one goes there. (Conformance cases ``special_grid_sample_infs_*`` hold MindSpore's outputs.)
    """
    bad = b.op1("Or", [b.op1("IsInf", [grid]), b.op1("IsNaN", [grid])])
    if padding != "border":
        return b.op1("Where", [bad, b.const(-3.0 if padding == "zeros" else 1.0, dt), grid])
    far = b.op1("Where", [bad, b.const(1.0, dt), grid])
    return b.op1("Where", [b.op1("IsInf", [grid], detect_positive=0), b.const(-1.0, dt), far])
