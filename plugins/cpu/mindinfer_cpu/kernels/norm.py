"""Normalizations: BatchNorm (inference), LayerNorm, GroupNorm, RmsNorm, L2Normalize, LpNorm."""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer.ir import Node

from ..registry import Arg, Kernel, kernel, param, unsupported
from ._util import axes
from .matmul import channel_shape


def bn_scale_shift(scale: Any, bias: Any, mean: Any, var: Any, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(s, t) with BatchNorm(x) = x*s + t, computed in float64 then rounded once."""
    s = np.asarray(scale, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
    t = np.asarray(bias, np.float64) - np.asarray(mean, np.float64) * s
    return s, t


@kernel("BatchNorm")
def build_batch_norm(node: Node, args: list[Arg]) -> Kernel:
    """Inference BatchNorm: y = x*s + t per channel; outputs 1..4 are the running stats."""
    training = param(node, args, "is_training")
    if training:
        raise unsupported(node, "is_training=True (training-mode batch statistics)")
    eps = float(param(node, args, "epsilon"))
    fmt = param(node, args, "data_format")
    pre = None
    if all(a.known for a in args[1:5]):
        s0, t0 = bn_scale_shift(args[1].value, args[2].value, args[3].value, args[4].value, eps)
        pre = (s0.astype(np.float32), t0.astype(np.float32))

    def run(x: np.ndarray, scale: Any, bias: Any, mean: Any, var: Any, *_: Any) -> tuple[np.ndarray, ...]:
        s, t = pre if pre is not None else bn_scale_shift(scale, bias, mean, var, eps)
        axis, ndim = channel_shape(x.ndim, fmt)
        shape = [1] * ndim
        shape[axis] = -1
        y = x * np.asarray(s, x.dtype).reshape(shape)
        y += np.asarray(t, x.dtype).reshape(shape)
        return y, mean, var, mean, var

    return run


def layer_norm(
    x: np.ndarray, begin: int, gamma: Any, beta: Any, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, mean, rstd) normalizing over axes begin..end."""
    ax = tuple(range(begin, x.ndim))
    xf = x.astype(np.float32, copy=False)
    mean = xf.mean(axis=ax, keepdims=True)
    d = xf - mean
    var = np.mean(np.square(d), axis=ax, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    y = d * rstd
    if gamma is not None:
        y *= gamma
    if beta is not None:
        y += beta
    return y.astype(x.dtype, copy=False), mean, rstd


@kernel("LayerNorm", "LayerNormV3")
def build_layer_norm(node: Node, args: list[Arg]) -> Kernel:
    """LayerNorm(x, gamma, beta, begin_norm_axis, begin_params_axis, epsilon) -> (y, mean, rstd)."""
    bna = int(param(node, args, "begin_norm_axis"))
    bpa = int(param(node, args, "begin_params_axis"))
    eps = float(param(node, args, "epsilon"))

    def run(x: np.ndarray, gamma: Any, beta: Any, *_: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        begin = bna % x.ndim
        pbegin = bpa % x.ndim
        pshape = x.shape[pbegin:]
        g = np.asarray(gamma, np.float32).reshape(pshape)
        b = np.asarray(beta, np.float32).reshape(pshape)
        return layer_norm(x, begin, g, b, eps)

    return run


@kernel("LayerNormExt")
def build_layer_norm_ext(node: Node, args: list[Arg]) -> Kernel:
    """LayerNormExt(input, normalized_shape, weight, bias, eps) -> (y, mean, rstd)."""
    eps = float(param(node, args, "eps"))

    def run(x: np.ndarray, shape: Any, weight: Any = None, bias: Any = None, *_: Any) -> tuple[np.ndarray, ...]:
        k = len(tuple(shape)) if not isinstance(shape, int) else 1
        return layer_norm(x, x.ndim - k, weight, bias, eps)

    return run


@kernel("GroupNorm")
def build_group_norm(node: Node, args: list[Arg]) -> Kernel:
    """GroupNorm(input, num_groups, weight, bias, eps) -> (y, mean, rstd)."""
    eps = float(param(node, args, "eps"))

    def run(x: np.ndarray, groups: Any, weight: Any = None, bias: Any = None, *_: Any) -> tuple[np.ndarray, ...]:
        n, c = x.shape[:2]
        gcount = int(groups)
        xf = x.astype(np.float32, copy=False).reshape(n, gcount, -1)
        mean = xf.mean(-1, keepdims=True)
        d = xf - mean
        rstd = 1.0 / np.sqrt(np.mean(np.square(d), -1, keepdims=True) + eps)
        y = (d * rstd).reshape(x.shape)
        cshape = (1, c) + (1,) * (x.ndim - 2)
        if weight is not None:
            y *= np.asarray(weight, np.float32).reshape(cshape)
        if bias is not None:
            y += np.asarray(bias, np.float32).reshape(cshape)
        return y.astype(x.dtype, copy=False), mean.reshape(n, gcount), rstd.reshape(n, gcount)

    return run


@kernel("RmsNorm")
def build_rms_norm(node: Node, args: list[Arg]) -> Kernel:
    """RmsNorm(x, gamma, epsilon) -> (y, rstd) over the last axis."""
    eps = float(param(node, args, "epsilon"))

    def run(x: np.ndarray, gamma: Any, *_: Any) -> tuple[np.ndarray, np.ndarray]:
        xf = x.astype(np.float32, copy=False)
        gdims = np.ndim(gamma)
        ax = tuple(range(x.ndim - max(gdims, 1), x.ndim))
        rstd = 1.0 / np.sqrt(np.mean(np.square(xf), axis=ax, keepdims=True) + eps)
        return (xf * rstd * gamma).astype(x.dtype, copy=False), rstd

    return run


@kernel("L2Normalize")
def build_l2_normalize(node: Node, args: list[Arg]) -> Kernel:
    """x / max(||x||_2 over axis, epsilon)."""
    axis = param(node, args, "axis")
    eps = float(param(node, args, "epsilon"))

    def run(x: np.ndarray, *_: Any) -> np.ndarray:
        ax = axes(axis, x.ndim)
        norm = np.sqrt(np.sum(np.square(x.astype(np.float32)), axis=ax, keepdims=True))
        return (x / np.maximum(norm, eps)).astype(x.dtype, copy=False)

    return run


@kernel("LpNorm")
def build_lp_norm(node: Node, args: list[Arg]) -> Kernel:
    """p-norm over axis (attributes axis, p, keep_dims, epsilon)."""
    axis = param(node, args, "axis")
    p = param(node, args, "p")
    keep = bool(param(node, args, "keep_dims"))

    def run(x: np.ndarray, *_: Any) -> np.ndarray:
        ax = axes(axis, x.ndim)
        xf = np.abs(x.astype(np.float32))
        if p == 2:
            r = np.sqrt(np.sum(xf * xf, axis=ax, keepdims=keep))
        elif p == 1:
            r = np.sum(xf, axis=ax, keepdims=keep)
        else:
            r = np.sum(xf**p, axis=ax, keepdims=keep) ** (1.0 / p)
        return r.astype(x.dtype)

    return run
