"""Reductions: Reduce*, *Ext sums/means, Max/Min, arg-reductions, cumulative sums and products."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from mindinfer.ir import Node

from .._dtypes import to_numpy_dtype
from ..registry import Arg, Kernel, kernel, param, simple
from ._util import axes


def _reduce(fn: Callable[..., Any], x: np.ndarray, axis: Any, keep: Any, dtype: Any = None) -> np.ndarray:
    ax = axes(axis, x.ndim)
    out = fn(x, axis=ax, keepdims=bool(keep))
    dt = to_numpy_dtype(dtype)
    out = np.asarray(out)
    if dt is not None:
        return out.astype(dt)
    if x.dtype.kind == "f" and out.dtype != x.dtype:
        return out.astype(x.dtype)
    return out


def _float_mean(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean accumulated in float32 for float16 input (numpy's pairwise sum keeps float32 accurate)."""
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    return np.mean(x, axis=axis, keepdims=keepdims, dtype=np.float32 if x.dtype == np.float16 else None)


_OLD_STYLE: dict[str, Callable[..., Any]] = {
    "ReduceMean": _float_mean,
    "ReduceSum": np.sum,
    "ReduceMax": np.max,
    "ReduceMin": np.min,
    "ReduceProd": np.prod,
    "ReduceAll": np.all,
    "ReduceAny": np.any,
}


def _old_builder(fn: Callable[..., Any]) -> Callable[[Node, list[Arg]], Kernel]:
    def build(node: Node, args: list[Arg]) -> Kernel:
        """Reduce over ``axis`` (empty = all axes, or none with ReduceSum's skip_mode)."""
        keep = param(node, args, "keep_dims")
        skip = bool(param(node, args, "skip_mode")) if node.op == "ReduceSum" else False

        def run(x: np.ndarray, axis: Any = (), *_: Any) -> np.ndarray:
            if skip and (axis is None or len(np.atleast_1d(axis)) == 0):
                return x
            return _reduce(fn, np.asarray(x), axis, keep)

        return run

    return build


for _name, _fn in _OLD_STYLE.items():
    kernel(_name)(_old_builder(_fn))


@simple("SumExt")
def sum_ext(x: Any, dim: Any = None, keepdim: Any = False, dtype: Any = None) -> Any:
    """Sum over ``dim`` (None = all); bool/int inputs sum to int64 as MindSpore does."""
    x = np.asarray(x)
    if dtype is None and x.dtype.kind in "biu":
        dtype = "int64"
    return _reduce(np.sum, x, dim, keepdim, dtype)


@simple("MeanExt")
def mean_ext(x: Any, dim: Any = None, keepdim: Any = False, dtype: Any = None) -> Any:
    """Mean over ``dim`` (None = all)."""
    return _reduce(_float_mean, np.asarray(x), dim, keepdim, dtype)


@simple("ProdExt")
def prod_ext(x: Any, dim: Any = None, keepdim: Any = False, dtype: Any = None) -> Any:
    """Product over ``dim`` (None = all)."""
    x = np.asarray(x)
    if dtype is None and x.dtype.kind in "biu":
        dtype = "int64"
    return _reduce(np.prod, x, dim, keepdim, dtype)


@simple("Max")
def max_all(x: Any) -> Any:
    """Maximum of all elements (0-d)."""
    return np.asarray(np.max(x))


@simple("Min")
def min_all(x: Any) -> Any:
    """Minimum of all elements (0-d)."""
    return np.asarray(np.min(x))


@simple("MaxDim")
def max_dim(x: Any, dim: Any, keepdim: Any = False) -> Any:
    """(values, int64 indices) of the maximum over ``dim``."""
    idx = np.argmax(x, axis=int(dim), keepdims=True)
    val = np.take_along_axis(x, idx, int(dim))
    if not keepdim:
        idx, val = np.squeeze(idx, int(dim)), np.squeeze(val, int(dim))
    return val, idx.astype(np.int64)


@simple("MinDim")
def min_dim(x: Any, dim: Any, keepdim: Any = False) -> Any:
    """(values, int64 indices) of the minimum over ``dim``."""
    idx = np.argmin(x, axis=int(dim), keepdims=True)
    val = np.take_along_axis(x, idx, int(dim))
    if not keepdim:
        idx, val = np.squeeze(idx, int(dim)), np.squeeze(val, int(dim))
    return val, idx.astype(np.int64)


def _arg_with_value(fn: Callable[..., Any]) -> Kernel:
    def run(x: Any, axis: Any = 0, keep: Any = False, *_: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        ax = int(axis) % max(x.ndim, 1)
        idx = fn(x, axis=ax, keepdims=True)
        val = np.take_along_axis(x, idx, ax)
        if not keep:
            idx, val = np.squeeze(idx, ax), np.squeeze(val, ax)
        return idx.astype(np.int64), val

    return run


simple("ArgMaxWithValue")(_arg_with_value(np.argmax))
simple("ArgMinWithValue")(_arg_with_value(np.argmin))


def _arg_builder(fn: Callable[..., Any]) -> Callable[[Node, list[Arg]], Kernel]:
    def build(node: Node, args: list[Arg]) -> Kernel:
        """Index of the extreme value over ``axis``, in ``output_type``."""
        axis = int(param(node, args, "axis"))
        dt = to_numpy_dtype(param(node, args, "output_type")) or np.dtype(np.int32)
        return lambda x, *_: np.asarray(fn(x, axis=axis)).astype(dt)

    return build


def nan_skipping_argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
    """np.argmax with NaN skipped (index 0 for an all-NaN slice): onnxruntime's ArgMax and MindSpore's."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and np.isnan(x).any():
        x = np.where(np.isnan(x), -np.inf, x)
    return np.argmax(x, axis=axis, keepdims=keepdims)


kernel("Argmax")(_arg_builder(nan_skipping_argmax))
kernel("Argmin")(_arg_builder(np.argmin))


@simple("ArgMaxExt")
def argmax_ext(x: Any, dim: Any = None, keepdim: Any = False) -> Any:
    """int64 index of the maximum over ``dim`` (None = flattened)."""
    if dim is None:
        return np.asarray(nan_skipping_argmax(x), np.int64)
    return nan_skipping_argmax(x, axis=int(dim), keepdims=bool(keepdim)).astype(np.int64)


@simple("ArgMinExt")
def argmin_ext(x: Any, dim: Any = None, keepdim: Any = False) -> Any:
    """int64 index of the minimum over ``dim`` (None = flattened)."""
    if dim is None:
        return np.asarray(np.argmin(x), np.int64)
    return np.argmin(x, axis=int(dim), keepdims=bool(keepdim)).astype(np.int64)


def _cumulative(fn: Callable[..., Any], ident: float) -> Kernel:
    def run(x: Any, axis: Any, exclusive: Any = False, reverse: Any = False, *_: Any) -> np.ndarray:
        x = np.asarray(x)
        ax = int(np.asarray(axis)) % x.ndim
        y = np.flip(x, ax) if reverse else x
        out = fn(y, axis=ax, dtype=x.dtype)
        if exclusive:
            shifted = np.full_like(out, ident)
            src = [slice(None)] * x.ndim
            dst = [slice(None)] * x.ndim
            src[ax], dst[ax] = slice(0, -1), slice(1, None)
            shifted[tuple(dst)] = out[tuple(src)]
            out = shifted
        return np.flip(out, ax).copy() if reverse else out

    return run


simple("CumSum")(_cumulative(np.cumsum, 0))
simple("CumProd")(_cumulative(np.cumprod, 1))


@simple("CumsumExt")
def cumsum_ext(x: Any, dim: Any, dtype: Any = None) -> Any:
    """Cumulative sum over ``dim``."""
    dt = to_numpy_dtype(dtype) or (np.dtype(np.int64) if np.asarray(x).dtype.kind in "biu" else np.asarray(x).dtype)
    return np.cumsum(x, axis=int(dim), dtype=dt)


@simple("ReduceStd")
def reduce_std(x: Any, axis: Any = (), unbiased: Any = True, keep: Any = False) -> Any:
    """(std, mean) over ``axis``."""
    x = np.asarray(x)
    ax = axes(axis, x.ndim)
    std = np.std(x, axis=ax, ddof=1 if unbiased else 0, keepdims=bool(keep))
    mean = np.mean(x, axis=ax, keepdims=bool(keep))
    return std.astype(x.dtype), mean.astype(x.dtype)


@simple("Std")
def std(x: Any, dim: Any = None, correction: Any = 1, keepdim: Any = False) -> Any:
    """Standard deviation over ``dim`` with Bessel ``correction``."""
    x = np.asarray(x)
    return np.std(x, axis=axes(dim, x.ndim), ddof=int(correction), keepdims=bool(keepdim)).astype(x.dtype)


@simple("Var")
def var(x: Any, dim: Any = None, correction: Any = 1, keepdim: Any = False) -> Any:
    """Variance over ``dim`` with Bessel ``correction``."""
    x = np.asarray(x)
    return np.var(x, axis=axes(dim, x.ndim), ddof=int(correction), keepdims=bool(keepdim)).astype(x.dtype)


@simple("LogSumExp")
def logsumexp(x: Any, dim: Any, keepdim: Any = False) -> Any:
    """log(sum(exp(x))) over ``dim``, stabilized by the maximum."""
    x = np.asarray(x)
    ax = axes(dim, x.ndim)
    m = np.max(x, axis=ax, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True)) + m
    return (out if keepdim else np.squeeze(out, ax)).astype(x.dtype)
