"""Scatter primitives: TensorScatter*, ScatterNd*, Scatter* by rows, and element scatters along a dim.

Every scatter is computed out of place. The Parameter-updating ones (``ScatterNdAdd(param, ...)``,
``ScatterUpdate(param, ...)``) return what the Parameter holds after one update; the Parameter itself
is never changed, so running a graph twice gives the same answer twice (MindSpore's would drift).
Repeated indices accumulate with ``ufunc.at`` (for Update the last write wins, MindSpore leaves it
unspecified).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from mindinfer.ir import Node

from ..registry import Arg, Kernel, kernel, param, simple, unsupported
from ._util import as_array

#: How each reduction combines the old value with an update (None: plain assignment).
_REDUCE: dict[str, Callable[..., Any] | None] = {
    "Update": None,
    "Add": np.add.at,
    "Sub": np.subtract.at,
    "Max": np.maximum.at,
    "Min": np.minimum.at,
    "Mul": np.multiply.at,
    "Div": np.divide.at,
}


def _wrap(indices: Any, sizes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Index rows ``(..., K)`` as K index arrays, negatives wrapped."""
    i = as_array(indices).astype(np.intp)
    parts = np.moveaxis(i, -1, 0)
    return tuple(np.where(p < 0, p + n, p) for p, n in zip(parts, sizes))


def _apply(out: np.ndarray, where: Any, updates: Any, reduce: Callable[..., Any] | None) -> np.ndarray:
    upd = as_array(updates).astype(out.dtype, copy=False)
    if reduce is None:
        out[where] = upd
    else:
        reduce(out, where, upd)
    return out


def _nd(reduce: Callable[..., Any] | None) -> Kernel:
    def run(x: Any, indices: Any, updates: Any, *_: Any) -> np.ndarray:
        out = np.array(as_array(x), copy=True)
        return _apply(out, _wrap(indices, out.shape), updates, reduce)

    return run


def _rows(reduce: Callable[..., Any] | None) -> Kernel:
    def run(x: Any, indices: Any, updates: Any, *_: Any) -> np.ndarray:
        out = np.array(as_array(x), copy=True)
        i = as_array(indices).astype(np.intp)
        i = np.where(i < 0, i + out.shape[0], i)
        return _apply(out, i, updates, reduce)

    return run


for _suffix, _fn in _REDUCE.items():
    simple(f"TensorScatter{_suffix}", f"ScatterNd{_suffix}")(_nd(_fn))
    simple(f"Scatter{_suffix}")(_rows(_fn))


@simple("ScatterNd")
def scatter_nd(indices: Any, updates: Any, shape: Any) -> np.ndarray:
    """Updates summed into zeros of ``shape`` at the index rows."""
    upd = as_array(updates)
    out = np.zeros(tuple(int(d) for d in np.asarray(shape).reshape(-1)), upd.dtype)
    return _apply(out, _wrap(indices, out.shape), upd, np.add.at)


#: The ``reduce`` argument of element scatters as core decodes it (``node.arg``: MindSpore's codes 0, 1, 2
#: become these names).
_ELEMENT_REDUCE: dict[str, Callable[..., Any] | None] = {"none": None, "add": np.add.at, "multiply": np.multiply.at}


def _element_reduce(node: Node, value: Any) -> Callable[..., Any] | None:
    if value not in _ELEMENT_REDUCE:
        raise unsupported(node, f"reduce={value!r}")
    return _ELEMENT_REDUCE[value]


def _scatter_elements(x: Any, dim: int, index: Any, src: Any, reduce: Callable[..., Any] | None) -> np.ndarray:
    """out[..., index[i, j, k], ...] (index replacing coordinate ``dim``) = src[i, j, k]."""
    out = np.array(as_array(x), copy=True)
    idx = as_array(index).astype(np.intp)
    d = dim % out.ndim
    idx = np.where(idx < 0, idx + out.shape[d], idx)
    grid = list(np.indices(idx.shape, sparse=True))
    grid[d] = idx
    s = as_array(src)
    if s.ndim:  # a src tensor may be larger than the index: only its leading block is used
        s = s[tuple(slice(0, n) for n in idx.shape)]
    return _apply(out, tuple(grid), np.broadcast_to(s, idx.shape), reduce)


@kernel("TensorScatterElements")
def build_tensor_scatter_elements(node: Node, args: list[Arg]) -> Kernel:
    """Element scatter along ``axis`` with reduction none/add."""
    axis = int(param(node, args, "axis"))
    reduce = _element_reduce(node, param(node, args, "reduce"))
    return lambda x, index, src, *_: _scatter_elements(x, axis, index, src, reduce)


@kernel("Scatter", "ScatterValue")
def build_scatter(node: Node, args: list[Arg]) -> Kernel:
    """mint.scatter(input, dim, index, src | value, reduce)."""
    reduce = _element_reduce(node, param(node, args, "reduce"))
    return lambda x, dim, index, src, *_: _scatter_elements(x, int(dim), index, src, reduce)
