"""Pooling: MaxPool, AvgPool (2-D and the 3-D forms nn.*Pool2d exports), adaptive pooling."""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer.ir import Node

from ..registry import Arg, Kernel, kernel, param, unsupported
from ._epilogue import LAYOUT
from ._window import ConvGeom, out_and_pads, pad_nchw, taps, valid_counts
from .conv_nhwc import pool_nhwc


def max_pool(x: np.ndarray, g: ConvGeom) -> np.ndarray:
    """Max over every window (padding never wins; NaN is skipped, as onnxruntime and MindSpore do)."""
    h, w = x.shape[2:]
    pads, oh, ow = out_and_pads(g, h, w)
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = pad_nchw(x, pads, fill)
    views = taps(xp, g, oh, ow)
    acc = views[0].copy()
    for v in views[1:]:
        np.fmax(acc, v, out=acc)
    return acc


def avg_pool(x: np.ndarray, g: ConvGeom, include_pad: bool = False, divisor: int = 0) -> np.ndarray:
    """Mean over every window; the divisor counts padding only when asked to."""
    h, w = x.shape[2:]
    pads, oh, ow = out_and_pads(g, h, w)
    xp = pad_nchw(x, pads, 0.0)
    views = taps(xp, g, oh, ow)
    acc = views[0].astype(x.dtype, copy=True)
    for v in views[1:]:
        acc += v
    if divisor:
        acc *= 1.0 / divisor
    elif not any(pads):
        acc *= 1.0 / (g.kh * g.kw)
    else:
        acc /= valid_counts(g, h, w, include_pad).astype(x.dtype)
    return acc


def _pool_geom(node: Node, args: list[Arg]) -> ConvGeom:
    """Geometry of MaxPool/AvgPool (attributes or 2.x constant inputs: kernel, strides, pad_mode, format)."""
    kh, kw = param(node, args, "kernel_size")
    sh, sw = param(node, args, "strides")
    mode = param(node, args, "pad_mode")
    if mode not in ("same", "valid"):
        raise unsupported(node, f"pad_mode {mode!r}")
    fmt = param(node, args, "data_format")
    if fmt != "NCHW":
        raise unsupported(node, f"format {fmt!r} (only NCHW)")
    return ConvGeom(kh, kw, sh, sw, mode=mode)


@kernel("MaxPool")
def build_max_pool(node: Node, args: list[Arg]) -> Kernel:
    """2-D max pooling, VALID or SAME."""
    g = _pool_geom(node, args)
    if node.attrs.get(LAYOUT) == "NHWC":
        return lambda x, *_: pool_nhwc(x, g, "max")
    return lambda x, *_: max_pool(x, g)


@kernel("AvgPool")
def build_avg_pool(node: Node, args: list[Arg]) -> Kernel:
    """2-D average pooling, VALID or SAME (SAME divides by the in-image window size)."""
    g = _pool_geom(node, args)
    if node.attrs.get(LAYOUT) == "NHWC":
        return lambda x, *_: pool_nhwc(x, g, "avg")
    return lambda x, *_: avg_pool(x, g)


def _geom_3d(node: Node, kernel_size: Any, strides: Any, pads6: Any, ceil: bool, mode: str, dilation: Any = 1):
    """A 2-D geometry for a 3-D pool whose depth window is trivial (what nn.*Pool2d exports)."""
    k = (kernel_size,) * 3 if isinstance(kernel_size, int) else tuple(kernel_size)[-3:]
    s = (strides,) * 3 if isinstance(strides, int) else tuple(strides)[-3:]
    d = (dilation,) * 3 if isinstance(dilation, int) else tuple(dilation)[-3:]
    p = tuple(pads6) if pads6 is not None else (0,) * 6
    if len(p) == 3:
        p = (p[0], p[0], p[1], p[1], p[2], p[2])
    if k[0] != 1 or s[0] != 1 or p[0] or p[1] or d[0] != 1:
        raise unsupported(node, "a depth window other than 1 (true 3-D pooling)")
    return ConvGeom(k[1], k[2], s[1], s[2], d[1], d[2], mode, (p[2], p[3], p[4], p[5]), ceil)


def _as_2d(fn):  # type: ignore[no-untyped-def]
    def run(x: np.ndarray, *_: Any) -> np.ndarray:
        n, c, dd, h, w = x.shape
        y = fn(x.reshape(n, c * dd, h, w))
        return y.reshape(n, c, dd, y.shape[2], y.shape[3])

    return run


@kernel("AvgPool3D")
def build_avg_pool3d(node: Node, args: list[Arg]) -> Kernel:
    """3-D average pooling with a depth window of 1 (nn.AvgPool2d with padding exports this)."""
    # pad_list is what MindSpore's shape inference wrote; pad is the argument.
    pads = node.attrs["pad_list"] if "pad_list" in node.attrs else param(node, args, "pad")
    g = _geom_3d(
        node,
        param(node, args, "kernel_size"),
        param(node, args, "strides"),
        pads,
        bool(param(node, args, "ceil_mode")),
        param(node, args, "pad_mode"),
    )
    include = bool(param(node, args, "count_include_pad"))
    divisor = int(param(node, args, "divisor_override") or 0)
    return _as_2d(lambda x: avg_pool(x, g, include, divisor))


@kernel("MaxPool3DWithArgmax")
def build_max_pool3d_argmax(node: Node, args: list[Arg]) -> Kernel:
    """3-D max pooling with a depth window of 1; the argmax output is not computed (refused if used)."""
    g = _geom_3d(
        node,
        param(node, args, "ksize"),
        param(node, args, "strides"),
        param(node, args, "pads"),
        bool(param(node, args, "ceil_mode")),
        "pad",
        param(node, args, "dilation"),
    )
    run2d = _as_2d(lambda x: max_pool(x, g))

    def run(x: np.ndarray, *_: Any) -> tuple[np.ndarray, None]:
        return run2d(x), None

    run.missing_outputs = (1,)  # type: ignore[attr-defined]  # the compiler refuses graphs that read it
    return run


@kernel("MaxPool3D")
def build_max_pool3d(node: Node, args: list[Arg]) -> Kernel:
    """3-D max pooling with a depth window of 1."""
    g = _geom_3d(
        node,
        param(node, args, "kernel_size"),
        param(node, args, "strides"),
        param(node, args, "pad_list"),
        bool(param(node, args, "ceil_mode")),
        param(node, args, "pad_mode"),
    )
    return _as_2d(lambda x: max_pool(x, g))


def _bins(size: int, out: int) -> list[tuple[int, int]]:
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _adaptive_sizes(node: Node, args: list[Arg], h: int, w: int) -> tuple[int, int]:
    size = param(node, args, "output_size")
    if size is None:
        raise unsupported(node, "no output_size")
    oh, ow = (size, size) if isinstance(size, int) else tuple(size)[-2:]
    return (h if oh is None or oh < 0 else int(oh)), (w if ow is None or ow < 0 else int(ow))


@kernel("AdaptiveAvgPool2D", "AdaptiveAvgPool2DExt")
def build_adaptive_avg(node: Node, args: list[Arg]) -> Kernel:
    """Adaptive average pooling (PyTorch bins: floor(i*H/OH) to ceil((i+1)*H/OH))."""

    def run(x: np.ndarray, *_: Any) -> np.ndarray:
        h, w = x.shape[-2:]
        oh, ow = _adaptive_sizes(node, args, h, w)
        if h % oh == 0 and w % ow == 0:
            lead = x.shape[:-2]
            return x.reshape(*lead, oh, h // oh, ow, w // ow).mean(axis=(-3, -1), dtype=x.dtype)
        s = np.zeros(x.shape[:-2] + (h + 1, w + 1), np.float64)
        s[..., 1:, 1:] = x.cumsum(-2, dtype=np.float64).cumsum(-1)
        hb, wb = _bins(h, oh), _bins(w, ow)
        h0 = np.array([b[0] for b in hb])[:, None]
        h1 = np.array([b[1] for b in hb])[:, None]
        w0 = np.array([b[0] for b in wb])[None, :]
        w1 = np.array([b[1] for b in wb])[None, :]
        tot = s[..., h1, w1] - s[..., h0, w1] - s[..., h1, w0] + s[..., h0, w0]
        return (tot / ((h1 - h0) * (w1 - w0))).astype(x.dtype)

    return run


@kernel("AdaptiveMaxPool2D")
def build_adaptive_max(node: Node, args: list[Arg]) -> Kernel:
    """Adaptive max pooling; returns (values, argmax indices over the flattened H*W plane)."""

    def run(x: np.ndarray, *_: Any) -> tuple[np.ndarray, np.ndarray]:
        h, w = x.shape[-2:]
        oh, ow = _adaptive_sizes(node, args, h, w)
        vals = np.empty(x.shape[:-2] + (oh, ow), x.dtype)
        idx = np.empty(x.shape[:-2] + (oh, ow), np.int64)
        for i, (a, b) in enumerate(_bins(h, oh)):
            for j, (c, d) in enumerate(_bins(w, ow)):
                region = x[..., a:b, c:d].reshape(x.shape[:-2] + (-1,))
                k = region.argmax(-1)
                vals[..., i, j] = np.take_along_axis(region, k[..., None], -1)[..., 0]
                idx[..., i, j] = (a + k // (d - c)) * w + c + k % (d - c)
        return vals, idx

    return run
