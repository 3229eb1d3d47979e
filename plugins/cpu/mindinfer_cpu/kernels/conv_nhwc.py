"""NHWC convolution and pooling: what the layout pass switches conv-heavy regions to.

In channels-last layout a 1x1 convolution is one GEMM over every pixel of the batch, im2col copies
contiguous channel runs, and a depthwise tap is a multiply over long contiguous rows; all three are
much cheaper in numpy than their NCHW forms. Wide 3x3 stride-1 convolutions take Winograd's
algorithm instead of im2col (:mod:`.winograd_nhwc`). The layout pass is :mod:`..layout`; the
conversions it inserts are in :mod:`.layout_nhwc`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import parallel
from ..registry import Kernel
from . import gemm_nhwc, winograd_nhwc
from ._window import ConvGeom, out_and_pads, valid_counts
from .depthwise_nhwc import make_depthwise_nhwc

#: Output elements a thread gets at least from :func:`pool_nhwc`.
MIN_POOL_PART = 1 << 16


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


def make_conv_nhwc(
    weight: np.ndarray,
    groups: int,
    g: ConvGeom,
    post: Callable[[np.ndarray], np.ndarray] | None,
    residual: bool = False,
    in_shape: tuple[int, ...] | None = None,
) -> Kernel:
    """Run-time closure of an NHWC convolution with constant weight (O, C/groups, kh, kw).

    With ``residual`` (dense convolutions only) the closure's last argument is a tensor added to the
    result before ``post`` (see :func:`..passes.fuse_residuals`), block by block; a tensor that would
    broadcast instead (a dynamic dimension of size 1) is added to the whole result, as MindSpore's
    Add does. Addition commutes with the bias, so ``post`` (bias, then activation) follows either way.
    ``in_shape`` is the NHWC input's shape when known (-1 where dynamic).
    """
    o, cg, kh, kw = weight.shape
    weight = weight.astype(np.float32, copy=False) if weight.dtype != np.float16 else weight
    pointwise = kh == kw == 1 and g.sh == g.sw == 1 and (g.mode != "pad" or not any(g.pads))

    if groups == 1:
        # (kh, kw, C, O): rows ordered like the im2col columns below.
        w2 = np.ascontiguousarray(weight.transpose(2, 3, 1, 0).reshape(kh * kw * cg, o))
        wino = winograd_nhwc.suits(weight, groups, g, in_shape)
        u = winograd_nhwc.transform_weight(w2.reshape(kh, kw, cg, o)) if wino else None

        def conv(x: np.ndarray, post: Callable[[np.ndarray], np.ndarray] | None, res: np.ndarray | None) -> np.ndarray:
            n, h, w, c = x.shape
            if pointwise:
                return parallel.matmul(x.reshape(n * h * w, c), w2, post, res).reshape(n, h, w, o)
            if u is not None and x.dtype == np.float32:
                # Winograd where it is faster; None (too few tiles) falls through to im2col.
                out = winograd_nhwc.conv3x3(x, u, g.padding(h, w), post, res)
                if out is not None:
                    return out
            xp = pad_nhwc(x, g.padding(h, w))
            oh, ow = g.out_size(xp.shape[1], xp.shape[2])
            s0, s1, s2, s3 = xp.strides
            win = as_strided(
                xp, (n, oh, ow, kh, kw, c), (s0, s1 * g.sh, s2 * g.sw, s1 * g.dh, s2 * g.dw, s3), writeable=False
            )
            return gemm_nhwc.im2col(win, w2, post, res)

        if not residual:
            return lambda x, *_: conv(x, post, None)

        def run_residual(x: np.ndarray, *rest: Any) -> np.ndarray:
            res = np.asarray(rest[-1])
            n, h, w, _ = x.shape
            pt, pb, pl, pr = g.padding(h, w)
            if res.shape == (n, *g.out_size(h + pt + pb, w + pl + pr), o) and res.dtype == np.float32:
                return conv(x, post, res)
            out = np.add(conv(x, None, None), res)
            return post(out) if post is not None else out

        return run_residual

    if cg == 1 and o == groups:
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
    """VALID/SAME max or average pooling of an NHWC tensor (average divides by in-image counts).

    No padded copy: each tap reads only the input pixels it meets, and the output rows are split over
    the run's threads. Skipping the padding is what -inf (max) or 0 with in-image counts (average)
    padding would give (measured: resnet18's 112x112x64 max pool at batch 8, 11.8 -> 3 ms on 2 threads).
    """

    n, h, w, c = x.shape
    pads, oh, ow = out_and_pads(g, h, w)
    pt, _, pl, _ = pads
    out = np.empty((n, max(oh, 0), max(ow, 0), c), x.dtype)
    if out.size == 0:
        return out
    fill = (-np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min) if kind == "max" else 0
    scale: np.ndarray | float | None = None
    if kind == "avg":
        scale = 1.0 / valid_counts(g, h, w, False).astype(x.dtype)[:, :, None] if any(pads) else 1.0 / (g.kh * g.kw)

    def part(r0: int, r1: int) -> None:
        acc = out[:, r0:r1]
        acc.fill(fill)
        for i in range(g.kh):
            # Output rows whose tap-i input row is inside the image.
            off = i * g.dh - pt
            ra, rb = max(r0, -(off // g.sh)), min(r1, (h - 1 - off) // g.sh + 1)
            if rb <= ra:
                continue
            for j in range(g.kw):
                offc = j * g.dw - pl
                ca, cb = max(0, -(offc // g.sw)), min(ow, (w - 1 - offc) // g.sw + 1)
                if cb <= ca:
                    continue
                src = x[
                    :,
                    ra * g.sh + off : (rb - 1) * g.sh + off + 1 : g.sh,
                    ca * g.sw + offc : (cb - 1) * g.sw + offc + 1 : g.sw,
                ]
                dst = acc[:, ra - r0 : rb - r0, ca:cb]
                if kind == "max":
                    np.fmax(dst, src, out=dst)  # NaN skipped, like max_pool
                else:
                    dst += src
        if isinstance(scale, np.ndarray):
            acc *= scale[r0:r1]
        elif scale is not None:
            acc *= scale

    parallel.split(part, oh, max(1, MIN_POOL_PART // max(1, n * ow * c)))
    return out
