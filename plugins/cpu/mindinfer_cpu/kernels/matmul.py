"""Matrix products: MatMul, BatchMatMul, MatMulExt, Dense, BiasAdd (weights pre-laid-out at compile time)."""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer.ir import Node

from .. import parallel
from ..registry import Arg, Kernel, kernel, param, unsupported
from ._epilogue import epilogue


def _maybe_t(x: np.ndarray, flag: Any) -> np.ndarray:
    return np.swapaxes(x, -1, -2) if flag else x


@kernel("MatMul", "BatchMatMul")
def build_matmul(node: Node, args: list[Arg]) -> Kernel:
    """x @ y with optional transposes; a constant right operand is transposed once, here."""
    ta = bool(param(node, args, "transpose_a"))
    tb = bool(param(node, args, "transpose_b"))
    post = epilogue(node)
    if args[1].known:
        w = np.asarray(args[1].value)
        w = np.ascontiguousarray(_maybe_t(w, tb))
        if (
            args[0].spec is not None
            and np.dtype(args[0].spec.dtype).kind == "f"
            and w.dtype != np.dtype(args[0].spec.dtype)
        ):
            w = w.astype(args[0].spec.dtype)

        def run_w(x: np.ndarray, *_: Any) -> np.ndarray:
            return parallel.matmul(_maybe_t(x, ta), w, post)

        return run_w

    def run(x: np.ndarray, y: np.ndarray, *_: Any) -> np.ndarray:
        return parallel.matmul(_maybe_t(x, ta), _maybe_t(y, tb), post)

    return run


@kernel("MatMulExt", "Mm", "BatchMatMulExt")
def build_matmul_ext(node: Node, args: list[Arg]) -> Kernel:
    """torch-style matmul (broadcasting batch dims, 1-D operands allowed); BatchMatMulExt is mint.bmm."""
    return lambda x, y, *_: parallel.matmul(x, y)


@kernel("Dense")
def build_dense(node: Node, args: list[Arg]) -> Kernel:
    """x @ w.T + b."""
    post = epilogue(node)
    if args[1].known:
        wt = np.ascontiguousarray(np.asarray(args[1].value).T)

        def run_known(x: np.ndarray, w: Any, b: Any = None, *_: Any) -> np.ndarray:
            out = parallel.matmul(x, wt)
            if b is not None:
                out += b
            return post(out) if post is not None else out

        return run_known

    def run(x: np.ndarray, w: np.ndarray, b: Any = None, *_: Any) -> np.ndarray:
        out = np.matmul(x, np.swapaxes(w, -1, -2))
        if b is not None:
            out = out + b
        return post(out) if post is not None else out

    return run


def channel_shape(ndim: int, fmt: Any) -> tuple[int, int]:
    """(axis of channels, ndim) for a BiasAdd/BatchNorm data_format (0/'NCHW' or 1/'NHWC')."""
    if fmt in (1, "NHWC") and ndim > 2:
        return ndim - 1, ndim
    return (1 if ndim > 1 else 0), ndim


@kernel("BiasAdd")
def build_bias_add(node: Node, args: list[Arg]) -> Kernel:
    """x + b along the channel axis of ``data_format``."""
    fmt = param(node, args, "data_format")
    if fmt not in (0, 1, "NCHW", "NHWC", "NCDHW", 14):
        raise unsupported(node, f"data_format {fmt!r}")

    def run(x: np.ndarray, b: np.ndarray, *_: Any) -> np.ndarray:
        axis, ndim = channel_shape(x.ndim, fmt)
        shape = [1] * ndim
        shape[axis] = -1
        return x + np.asarray(b, x.dtype).reshape(shape)

    return run
