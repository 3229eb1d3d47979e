"""Convolutions through one matrix product: Conv2D (im2col by stride tricks), grouped, depthwise, transposed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from mindinfer.ir import Node
from mindinfer.primitives import pair
from numpy.lib.stride_tricks import as_strided

from ..registry import Arg, Kernel, kernel, param, require_known, unsupported
from ._epilogue import LAYOUT, RESIDUAL, epilogue
from ._window import ConvGeom, pad_nchw, taps, windows
from .conv_nhwc import make_conv_nhwc


def conv_geom(node: Node, args: list[Arg]) -> ConvGeom:
    """ConvGeom from Conv2D's arguments (kernel_size, stride, dilation, pad_mode, pad)."""
    kh, kw = param(node, args, "kernel_size")
    sh, sw = param(node, args, "stride")
    dh, dw = param(node, args, "dilation")
    mode = param(node, args, "pad_mode")
    if mode not in ("pad", "same", "valid"):
        raise unsupported(node, f"pad_mode {mode!r}")
    return ConvGeom(kh, kw, sh, sw, dh, dw, mode, param(node, args, "pad"))


def _check_nchw(node: Node, args: list[Arg]) -> None:
    fmt = param(node, args, "data_format")
    if fmt != "NCHW":
        raise unsupported(node, f"format {fmt!r} (only NCHW)")


def make_conv(weight: np.ndarray, groups: int, g: ConvGeom, post: Callable[[np.ndarray], np.ndarray] | None) -> Kernel:
    """The run-time closure of a 2-D NCHW convolution with a constant weight (O, C/groups, kh, kw)."""
    o, cg = weight.shape[:2]
    weight = np.ascontiguousarray(weight, dtype=np.float32) if weight.dtype != np.float16 else weight
    pointwise = g.kh == g.kw == 1 and g.sh == g.sw == 1 and (g.mode != "pad" or not any(g.pads))

    if groups == 1 and pointwise:
        w2 = np.ascontiguousarray(weight.reshape(o, cg))

        def run_1x1(x: np.ndarray, *_: Any) -> np.ndarray:
            n, c, h, w = x.shape
            out = np.matmul(w2, x.reshape(n, c, h * w)).reshape(n, o, h, w)
            return post(out) if post is not None else out

        return run_1x1

    if groups == 1:
        w2 = np.ascontiguousarray(weight.reshape(o, -1))

        def run_gemm(x: np.ndarray, *_: Any) -> np.ndarray:
            n, c, h, w = x.shape
            xp = pad_nchw(x, g.padding(h, w))
            oh, ow = g.out_size(xp.shape[2], xp.shape[3])
            cols = windows(xp, g, oh, ow).reshape(n, c * g.kh * g.kw, oh * ow)
            out = np.matmul(w2, cols).reshape(n, o, oh, ow)
            return post(out) if post is not None else out

        return run_gemm

    if cg == 1 and o == groups:
        # Depthwise: a sum over the kh*kw shifted views, each times a per-channel weight.
        wt = [np.ascontiguousarray(weight[:, 0, i, j]).reshape(1, o, 1, 1) for i in range(g.kh) for j in range(g.kw)]

        def run_dw(x: np.ndarray, *_: Any) -> np.ndarray:
            h, w = x.shape[2:]
            xp = pad_nchw(x, g.padding(h, w))
            oh, ow = g.out_size(xp.shape[2], xp.shape[3])
            views = taps(xp, g, oh, ow)
            acc = np.multiply(views[0], wt[0])
            tmp = np.empty_like(acc)
            for v, k in zip(views[1:], wt[1:]):
                np.multiply(v, k, out=tmp)
                acc += tmp
            return post(acc) if post is not None else acc

        return run_dw

    og = o // groups
    wg = np.ascontiguousarray(weight.reshape(groups, og, -1))

    def run_grouped(x: np.ndarray, *_: Any) -> np.ndarray:
        n, _, h, w = x.shape
        xp = pad_nchw(x, g.padding(h, w))
        oh, ow = g.out_size(xp.shape[2], xp.shape[3])
        win = windows(xp, g, oh, ow)  # (n, c, kh, kw, oh, ow)
        cols = as_strided(
            xp,
            (n, groups, cg, g.kh, g.kw, oh, ow),
            (win.strides[0], win.strides[1] * cg) + win.strides[1:],
            writeable=False,
        ).reshape(n, groups, cg * g.kh * g.kw, oh * ow)
        out = np.matmul(wg, cols).reshape(n, o, oh, ow)
        return post(out) if post is not None else out

    return run_grouped


@kernel("Conv2D")
def build_conv2d(node: Node, args: list[Arg]) -> Kernel:
    """2-D convolution, NCHW (any groups, dilation, pad mode); a constant weight is laid out once."""
    _check_nchw(node, args)
    groups = int(param(node, args, "group"))
    g = conv_geom(node, args)
    post = epilogue(node, (1, -1, 1, 1))
    if not args[1].known:
        # A weight computed at run time (functional conv2d on a tensor argument): lay it out per call.
        return lambda x, w, *_: make_conv(np.asarray(w), groups, g, post)(x)
    w = np.asarray(args[1].value)
    if w.ndim != 4:
        raise unsupported(node, f"weight of rank {w.ndim}")
    if node.attrs.get(LAYOUT) == "NHWC":
        return make_conv_nhwc(w, groups, g, epilogue(node), bool(node.attrs.get(RESIDUAL)), args[0].shape)
    return make_conv(w, groups, g, post)


@kernel("Conv2DExt", "Conv2DPadding", "Convolution")
def build_conv2d_ext(node: Node, args: list[Arg]) -> Kernel:
    """mint-style conv2d(input, weight, bias, stride, padding, dilation, groups).

    Convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    is the same with two more arguments before groups; only its 2-D, non-transposed form runs here.
    """
    w = np.asarray(require_known(node, args, 1, "the weight"))
    bias = param(node, args, "bias")
    sh, sw = pair(param(node, args, "stride"), "stride", node.op, node.name)
    padding = param(node, args, "padding")
    dh, dw = pair(param(node, args, "dilation"), "dilation", node.op, node.name)
    if node.op == "Convolution":
        if bool(param(node, args, "transposed")):
            raise unsupported(node, "transposed Convolution")
        if w.ndim != 4:
            raise unsupported(node, f"a {w.ndim - 2}-D Convolution (only 2-D runs on the cpu plugin)")
    groups = int(param(node, args, "groups"))
    if node.op == "Conv2DPadding" or isinstance(padding, str):
        mode = str(padding).lower()
        pads = (0, 0, 0, 0)
        if mode == "same" and (sh, sw) != (1, 1):
            raise unsupported(node, "padding='same' with stride > 1")
    else:
        ph, pw = pair(padding, "padding", node.op, node.name)
        mode, pads = "pad", (ph, ph, pw, pw)
    g = ConvGeom(w.shape[2], w.shape[3], sh, sw, dh, dw, mode, pads)
    post = epilogue(node, (1, -1, 1, 1))
    if bias is not None:
        b = np.asarray(bias, np.float32).reshape(1, -1, 1, 1)

        def with_bias(y: np.ndarray) -> np.ndarray:
            y += b
            return post(y) if post is not None else y

        return make_conv(w, groups, g, with_bias)
    return make_conv(w, groups, g, post)


def _col2im(cols: np.ndarray, n: int, c: int, hp: int, wp: int, g: ConvGeom, ih: int, iw: int) -> np.ndarray:
    """Scatter-add columns (n, c, kh, kw, ih, iw) back onto a padded canvas (n, c, hp, wp)."""
    canvas = np.zeros((n, c, hp, wp), cols.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            h0, w0 = i * g.dh, j * g.dw
            canvas[:, :, h0 : h0 + (ih - 1) * g.sh + 1 : g.sh, w0 : w0 + (iw - 1) * g.sw + 1 : g.sw] += cols[:, :, i, j]
    return canvas


@kernel("Conv2DTranspose", "Conv2DBackpropInput")
def build_conv2d_transpose(node: Node, args: list[Arg]) -> Kernel:
    """Transposed convolution (the input-gradient of Conv2D): one GEMM then col2im."""
    _check_nchw(node, args)
    weight = np.asarray(require_known(node, args, 1, "the weight"), np.float32)  # (Cin_of_dout, Cout/g, kh, kw)
    groups = int(param(node, args, "group"))
    g = conv_geom(node, args)
    post = epilogue(node, (1, -1, 1, 1))
    ci, cog, kh, kw = weight.shape
    cig = ci // groups
    # (groups, cog*kh*kw, cig): the transposed weight of each group.
    wt = np.ascontiguousarray(weight.reshape(groups, cig, cog * kh * kw).transpose(0, 2, 1))
    sizes = args[2].value if len(args) > 2 and args[2].known else None

    def run(dout: np.ndarray, w: Any, size: Any = None, *_: Any) -> np.ndarray:
        size = sizes if size is None or sizes is not None else size
        n, _, ih, iw = dout.shape
        oh, ow = int(size[-2]), int(size[-1])
        pt, pb, pl, pr = g.padding(oh, ow)
        hp, wp = oh + pt + pb, ow + pl + pr
        x = dout.reshape(n, groups, cig, ih * iw)
        cols = np.matmul(wt, x).reshape(n, groups * cog, kh, kw, ih, iw)
        canvas = _col2im(
            cols,
            n,
            groups * cog,
            max(hp, (ih - 1) * g.sh + (kh - 1) * g.dh + 1),
            max(wp, (iw - 1) * g.sw + (kw - 1) * g.dw + 1),
            g,
            ih,
            iw,
        )
        out = np.ascontiguousarray(canvas[:, :, pt : pt + oh, pl : pl + ow])
        return post(out) if post is not None else out

    return run
