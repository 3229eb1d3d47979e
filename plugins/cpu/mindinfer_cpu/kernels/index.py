"""Indexing: Gather, GatherD, GatherNd, IndexSelect, OneHot, TopK, Select, MaskedFill, Embedding."""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer.ir import Node

from ..registry import Arg, Kernel, kernel, param, simple, unsupported
from ._util import as_array


def _idx(indices: Any, size: int) -> np.ndarray:
    """Indices as intp with negatives wrapped (MindSpore CPU wraps them as numpy does)."""
    i = as_array(indices).astype(np.intp, copy=False)
    return np.where(i < 0, i + size, i) if i.size and i.min() < 0 else i


@kernel("Gather", "GatherV2")
def build_gather(node: Node, args: list[Arg]) -> Kernel:
    """params.take(indices, axis) with optional batch_dims."""
    batch_dims = int(param(node, args, "batch_dims")) if node.op == "Gather" else 0  # GatherV2 has none

    def run(params: Any, indices: Any, axis: Any = 0, *_: Any) -> np.ndarray:
        p = as_array(params)
        ax = int(np.asarray(axis)) % p.ndim
        if batch_dims == 0:
            return np.take(p, _idx(indices, p.shape[ax]), axis=ax)
        i = _idx(indices, p.shape[ax])
        # batch_dims: gather each batch slice with its own index row.
        lead = p.shape[:batch_dims]
        pf = p.reshape(-1, *p.shape[batch_dims:])
        iff = i.reshape(-1, *i.shape[batch_dims:])
        parts = [np.take(pf[b], iff[b], axis=ax - batch_dims) for b in range(pf.shape[0])]
        out = np.stack(parts)
        return out.reshape(lead + out.shape[1:])

    return run


@simple("IndexSelect")
def index_select(x: Any, dim: Any, index: Any) -> Any:
    """x.take(index, dim)."""
    x = as_array(x)
    d = int(dim) % x.ndim
    return np.take(x, _idx(index, x.shape[d]), axis=d)


@simple("GatherD")
def gather_d(x: Any, dim: Any, index: Any) -> Any:
    """take_along_axis(x, index, dim)."""
    x = as_array(x)
    d = int(dim) % x.ndim
    return np.take_along_axis(x, _idx(index, x.shape[d]), axis=d)


@simple("GatherNd")
def gather_nd(x: Any, indices: Any) -> Any:
    """x[indices[..., 0], indices[..., 1], ...]."""
    x = as_array(x)
    i = as_array(indices).astype(np.intp)
    return x[tuple(np.moveaxis(i, -1, 0))]


@kernel("OneHot", "OneHotExt")
def build_one_hot(node: Node, args: list[Arg]) -> Kernel:
    """One-hot along ``axis`` with on/off values (out-of-range indices give all off)."""
    axis = int(param(node, args, "axis"))

    def run(indices: Any, depth: Any, on: Any = 1, off: Any = 0, *_: Any) -> np.ndarray:
        i = as_array(indices)
        d = int(np.asarray(depth))
        on_a, off_a = as_array(on), as_array(off)
        dt = on_a.dtype if on_a.dtype.kind == "f" else np.result_type(on_a, off_a)
        hot = i[..., None] == np.arange(d)
        out = np.where(hot, on_a.astype(dt), off_a.astype(dt))
        return np.moveaxis(out, -1, axis) if axis != -1 else out

    return run


@kernel("TopK")
def build_topk(node: Node, args: list[Arg]) -> Kernel:
    """(values, int32 indices) of the k largest along the last axis, largest first."""

    # sorted=False leaves the order implementation-defined; the sorted order is one valid answer.
    def run(x: Any, k: Any, *_: Any) -> tuple[np.ndarray, np.ndarray]:
        x = as_array(x)
        kk = int(np.asarray(k))
        # Stable sort of -x keeps the lower index first among equal values, as MindSpore does.
        order = np.argsort(-x, axis=-1, kind="stable")[..., :kk]
        return np.take_along_axis(x, order, -1), order.astype(np.int32)

    return run


@simple("Select")
def select(cond: Any, x: Any, y: Any) -> Any:
    """x where cond else y."""
    x, y = as_array(x), as_array(y)
    dt = x.dtype if x.ndim >= y.ndim or y.dtype == x.dtype else y.dtype
    return np.where(as_array(cond), x, y).astype(dt, copy=False)


@simple("MaskedFill", "MaskedFillScalar")
def masked_fill(x: Any, mask: Any, value: Any) -> Any:
    """x with ``value`` where mask."""
    x = as_array(x)
    return np.where(as_array(mask), as_array(value).astype(x.dtype), x)


@kernel("Embedding")
def build_embedding(node: Node, args: list[Arg]) -> Kernel:
    """weight[input] (max_norm renormalization is refused)."""
    if param(node, args, "max_norm") is not None:
        raise unsupported(node, "max_norm")
    return lambda ids, weight, *_: np.take(as_array(weight), _idx(ids, as_array(weight).shape[0]), axis=0)
