"""Fused epilogues: what the compiler's fusion passes attach to a conv/matmul node.

A fused node keeps its primitive name and gains two attributes (private to this plugin):
``cpu.bias`` (a 1-D per-output-channel array) and ``cpu.act`` (the
primitive name of an activation in :data:`activation.INPLACE`). Both are applied in place on the
freshly computed output, so fusion costs no extra pass over memory for the bias/activation copy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from mindinfer.ir import Node

from .activation import INPLACE

BIAS = "cpu.bias"
ACT = "cpu.act"
#: Set by :func:`..passes.fuse_residuals` on an NHWC Conv2D whose last input is a skip connection
#: to add before the bias and activation.
RESIDUAL = "cpu.residual"
#: Set to "NHWC" by the layout pass on conv/pool nodes whose input and output are channels-last.
LAYOUT = "cpu.layout"


def epilogue(node: Node, bias_shape: tuple[int, ...] = (-1,)) -> Callable[[np.ndarray], np.ndarray] | None:
    """The in-place bias+activation function a fused node asks for, or None."""
    bias = node.attrs.get(BIAS)
    if bias is not None:
        bias = np.asarray(bias).reshape(bias_shape)
    act = INPLACE.get(node.attrs.get(ACT, ""))
    if bias is None and act is None:
        return None
    if act is None:

        def run_bias(y: np.ndarray) -> np.ndarray:
            y += bias
            return y

        return run_bias
    if bias is None:
        return act

    def run(y: np.ndarray) -> np.ndarray:
        y += bias
        return act(y)

    return run
