"""NHWC convolution and pooling: what the layout pass switches conv-heavy regions to.

In channels-last layout a 1x1 convolution is one GEMM over every pixel of the batch, im2col copies
contiguous channel runs, and a depthwise tap is a multiply over long contiguous rows; all three are
much cheaper in numpy than their NCHW forms. Layout conversions live in :mod:`..layout`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from mindinfer.ir import Node
from numpy.lib.stride_tricks import as_strided

from ..registry import INTERNAL, Arg, Kernel
from . import gemm_nhwc
from .conv import ConvGeom


def pad_nhwc(x: np.ndarray, pads: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    """x (N, H, W, C) with spatial padding (top, bottom, left, right)."""
    pt, pb, pl, pr = pads
    if not (pt or pb or pl or pr):
        return x
    n, h, w, c = x.shape
    out = np.empty((n, h + pt + pb, w + pl + pr, c), x.dtype)
    if value == 0.0:
        out[:, :pt] = 0
        out[:, h + pt :] = 0
        out[:, pt : h + pt, :pl] = 0
        out[:, pt : h + pt, w + pl :] = 0
    else:
        out.fill(value)
    out[:, pt : pt + h, pl : pl + w] = x
    return out


def tap(xp: np.ndarray, g: ConvGeom, i: int, j: int, r0: int, r1: int, ow: int) -> np.ndarray:
    """Input pixels that kernel tap (i, j) meets for output rows r0..r1 (a strided view)."""
    h0, w0 = i * g.dh + r0 * g.sh, j * g.dw
    return xp[:, h0 : h0 + (r1 - r0 - 1) * g.sh + 1 : g.sh, w0 : w0 + (ow - 1) * g.sw + 1 : g.sw]


def make_conv_nhwc(
    weight: np.ndarray, groups: int, g: ConvGeom, post: Callable[[np.ndarray], np.ndarray] | None
) -> Kernel:
    """Run-time closure of an NHWC convolution with constant weight (O, C/groups, kh, kw)."""
    o, cg, kh, kw = weight.shape
    weight = weight.astype(np.float32, copy=False) if weight.dtype != np.float16 else weight
    pointwise = kh == kw == 1 and g.sh == g.sw == 1 and (g.mode != "pad" or not any(g.pads))

    if groups == 1:
        # (kh, kw, C, O): rows ordered like the im2col columns below.
        w2 = np.ascontiguousarray(weight.transpose(2, 3, 1, 0).reshape(kh * kw * cg, o))

        def run(x: np.ndarray, *_: Any) -> np.ndarray:
            n, h, w, c = x.shape
            if pointwise:
                return gemm_nhwc.pointwise(x.reshape(n * h * w, c), w2, post).reshape(n, h, w, o)
            xp = pad_nhwc(x, g.padding(h, w))
            oh, ow = g.out_size(xp.shape[1], xp.shape[2])
            s0, s1, s2, s3 = xp.strides
            win = as_strided(
                xp, (n, oh, ow, kh, kw, c), (s0, s1 * g.sh, s2 * g.sw, s1 * g.dh, s2 * g.dw, s3), writeable=False
            )
            return gemm_nhwc.im2col(win, w2, post)

        return run

    if cg == 1 and o == groups:
        from .depthwise_nhwc import make_depthwise_nhwc

        return make_depthwise_nhwc(weight, g, post)

    og = o // groups
    # (groups, kh*kw*cg, og) with rows ordered (kh, kw, cg).
    wg = np.ascontiguousarray(
        weight.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(groups, kh * kw * cg, og)
    )

    def run_grouped(x: np.ndarray, *_: Any) -> np.ndarray:
        n, h, w, _ = x.shape
        xp = pad_nhwc(x, g.padding(h, w))
        oh, ow = g.out_size(xp.shape[1], xp.shape[2])
        s0, s1, s2, s3 = xp.strides
        win = as_strided(
            xp,
            (groups, n, oh, ow, kh, kw, cg),
            (s3 * cg, s0, s1 * g.sh, s2 * g.sw, s1 * g.dh, s2 * g.dw, s3),
            writeable=False,
        ).reshape(groups, n * oh * ow, kh * kw * cg)
        out = np.matmul(win, wg)  # (groups, P, og)
        out = np.ascontiguousarray(out.transpose(1, 0, 2)).reshape(n, oh, ow, o)
        return post(out) if post is not None else out

    return run_grouped


def pool_nhwc(x: np.ndarray, g: ConvGeom, kind: str) -> np.ndarray:
    """VALID/SAME max or average pooling of an NHWC tensor (average divides by in-image counts)."""
    from .pool import _out_and_pads, _valid_counts

    h, w = x.shape[1:3]
    pads, oh, ow = _out_and_pads(g, h, w)
    fill = (-np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min) if kind == "max" else 0.0
    xp = pad_nhwc(x, pads, fill)
    acc = tap(xp, g, 0, 0, 0, oh, ow).copy()
    for i in range(g.kh):
        for j in range(g.kw):
            if i or j:
                v = tap(xp, g, i, j, 0, oh, ow)
                if kind == "max":
                    np.maximum(acc, v, out=acc)
                else:
                    acc += v
    if kind == "avg":
        if any(pads):
            acc /= _valid_counts(g, h, w, False).astype(x.dtype)[:, :, None]
        else:
            acc *= 1.0 / (g.kh * g.kw)
    return acc


def _to_nhwc(node: Node, args: list[Arg]) -> Kernel:
    """NCHW -> NHWC, contiguous."""
    return lambda x, *_: np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))


def _to_nchw(node: Node, args: list[Arg]) -> Kernel:
    """NHWC -> NCHW, contiguous."""
    return lambda x, *_: np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))


INTERNAL["cpu.ToNHWC"] = _to_nhwc
INTERNAL["cpu.ToNCHW"] = _to_nchw
