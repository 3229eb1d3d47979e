"""Resizing: nearest and bilinear (TensorFlow-style flags) and the torch-style Upsample* primitives."""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer.ir import Node

from ..registry import Arg, Kernel, kernel, param, unsupported
from ._util import as_array


def _size(value: Any) -> tuple[int, int]:
    v = [int(s) for s in np.asarray(value).reshape(-1)]
    return v[-2], v[-1]


def _src(out: int, inp: int, align: bool, half: bool) -> np.ndarray:
    """Continuous source coordinate of each output pixel."""
    d = np.arange(out, dtype=np.float64)
    if align:
        return d * ((inp - 1) / (out - 1)) if out > 1 else np.zeros(out)
    if half:
        return (d + 0.5) * (inp / out) - 0.5
    return d * (inp / out)


def _nearest_index(out: int, inp: int, align: bool, half: bool) -> np.ndarray:
    d = np.arange(out, dtype=np.float64)
    scale = (inp - 1) / (out - 1) if align and out > 1 else inp / out
    if align:
        idx = np.floor(d * scale + 0.5)  # C roundf: halves away from zero, not numpy's to-even
    elif half:
        idx = np.floor((d + 0.5) * scale)
    else:
        idx = np.floor(d * scale)
    return np.clip(idx, 0, inp - 1).astype(np.intp)


def resize_nearest(x: np.ndarray, size: tuple[int, int], align: bool, half: bool) -> np.ndarray:
    """Nearest-neighbour resize of the last two axes."""
    ih, iw = x.shape[-2:]
    hi = _nearest_index(size[0], ih, align, half)
    wi = _nearest_index(size[1], iw, align, half)
    return x[..., hi[:, None], wi[None, :]]


def _linear_weights(out: int, inp: int, align: bool, half: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = _src(out, inp, align, half)
    lo_f = np.floor(src)
    lerp = src - lo_f
    lo = np.clip(lo_f, 0, inp - 1).astype(np.intp)
    hi = np.clip(np.ceil(src), 0, inp - 1).astype(np.intp)
    return lo, hi, lerp


def resize_bilinear(x: np.ndarray, size: tuple[int, int], align: bool, half: bool) -> np.ndarray:
    """Bilinear resize of the last two axes (TensorFlow coordinate rules)."""
    ih, iw = x.shape[-2:]
    h0, h1, hl = _linear_weights(size[0], ih, align, half)
    w0, w1, wl = _linear_weights(size[1], iw, align, half)
    xf = x.astype(np.float32, copy=False)
    hl = hl.astype(np.float32)[:, None]
    wl = wl.astype(np.float32)
    top = xf[..., h0, :]
    bot = xf[..., h1, :]
    rows = top + (bot - top) * hl
    left = rows[..., w0]
    right = rows[..., w1]
    return (left + (right - left) * wl).astype(x.dtype, copy=False)


def _flags(node: Node, args: list[Arg]) -> tuple[bool, bool]:
    return bool(param(node, args, "align_corners")), bool(param(node, args, "half_pixel_centers"))


@kernel("ResizeNearestNeighborV2")
def build_resize_nearest_v2(node: Node, args: list[Arg]) -> Kernel:
    """Nearest resize to ``size`` (align_corners, half_pixel_centers)."""
    align, half = _flags(node, args)
    return lambda x, size, *_: resize_nearest(as_array(x), _size(size), align, half)


@kernel("ResizeNearestNeighbor")
def build_resize_nearest(node: Node, args: list[Arg]) -> Kernel:
    """Nearest resize to the ``size`` attribute."""
    size = _size(param(node, args, "size"))
    align = bool(param(node, args, "align_corners"))
    half = bool(param(node, args, "half_pixel_centers"))
    return lambda x, *_: resize_nearest(as_array(x), size, align, half)


@kernel("ResizeBilinearV2", "ResizeBilinear")
def build_resize_bilinear(node: Node, args: list[Arg]) -> Kernel:
    """Bilinear resize to ``size`` (align_corners, half_pixel_centers)."""
    align, half = _flags(node, args)
    if node.op == "ResizeBilinear":
        size = _size(param(node, args, "size"))
        return lambda x, *_: resize_bilinear(as_array(x), size, align, half)
    return lambda x, size, *_: resize_bilinear(as_array(x), _size(size), align, half)


def _upsample_size(x: np.ndarray, size: Any, scales: Any) -> tuple[int, int]:
    if size is not None:
        return _size(size)
    s = [float(v) for v in scales]
    return int(np.floor(x.shape[-2] * s[-2])), int(np.floor(x.shape[-1] * s[-1]))


@kernel("UpsampleNearest2D")
def build_upsample_nearest(node: Node, args: list[Arg]) -> Kernel:
    """torch nearest upsampling: src = floor(dst * in/out)."""
    return lambda x, size=None, scales=None, *_: resize_nearest(
        as_array(x), _upsample_size(as_array(x), size, scales), False, False
    )


@kernel("UpsampleBilinear2D")
def build_upsample_bilinear(node: Node, args: list[Arg]) -> Kernel:
    """torch bilinear upsampling (align_corners, else half-pixel with the low index clamped at 0)."""
    align = bool(param(node, args, "align_corners"))
    if (
        len(args) > 2
        and args[2].known
        and args[2].value is not None
        and not (len(args) > 1 and args[1].known and args[1].value is not None)
    ):
        raise unsupported(node, "scales without output_size (torch's scale-based coordinate rule)")
    return lambda x, size=None, scales=None, *_: resize_bilinear(
        as_array(x), _upsample_size(as_array(x), size, scales), align, not align
    )
