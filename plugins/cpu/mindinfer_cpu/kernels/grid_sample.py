"""GridSampler2D: sample an NCHW input at the (x, y) points of a grid in [-1, 1] (SVTR's rectification).

Bilinear or nearest interpolation; zeros, border or reflection padding; ``align_corners`` maps -1 and
1 to the centres of the corner pixels (True) or to their outer edges (False).
"""

from __future__ import annotations

import numpy as np
from mindinfer.ir import Node

from ..registry import Arg, Kernel, kernel, param, unsupported
from ._util import as_array


def _reflect(c: np.ndarray, low2: int, high2: int) -> np.ndarray:
    """Reflect coordinates into [low2/2, high2/2] (bounds given doubled, as the edges may be half-pixels)."""
    if low2 == high2:
        return np.where(np.isnan(c), c, 0.0)
    lo = low2 / 2.0
    span = (high2 - low2) / 2.0
    c = np.abs(c - lo)
    extra = np.fmod(c, span)
    flips = np.floor(c / span)
    return np.where(flips % 2 == 0, extra + lo, span - extra + lo)


def source_coords(g: np.ndarray, size: int, padding: str, align: bool) -> np.ndarray:
    """Pixel coordinates of normalized grid values along one axis, after padding's clipping/reflection."""
    c = (g + 1.0) / 2.0 * (size - 1) if align else ((g + 1.0) * size - 1.0) / 2.0
    if padding == "zeros":
        # NaN or infinity is outside: it samples zeros (MindSpore's kernel does the same).
        return np.where(np.isfinite(c), c, -2.0)
    if padding == "border":
        c = np.clip(c, 0, size - 1)
    else:
        c = _reflect(c, 0, 2 * (size - 1)) if align else _reflect(c, -1, 2 * size - 1)
        c = np.clip(c, 0, size - 1)
    # MindSpore clips with std::min(limit, std::max(c, 0)): -inf goes to pixel 0, +inf and NaN to the far
    # edge; reflection has already made every infinity NaN, so there all of them go to the far edge.
    return np.where(np.isnan(c), size - 1, c)


def _gather(x: np.ndarray, yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """x[n, :, yi, xi] for integer maps (N, Ho, Wo), zero where out of bounds; result (N, C, Ho, Wo)."""
    n, _, h, w = x.shape
    inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
    yc, xc = np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)
    batch = np.arange(n)[:, None, None]
    vals = x[batch, :, yc, xc]  # (N, Ho, Wo, C)
    vals = np.where(inside[..., None], vals, np.zeros((), x.dtype))
    return np.moveaxis(vals, -1, 1)


def grid_sample(x: np.ndarray, grid: np.ndarray, mode: str, padding: str, align: bool) -> np.ndarray:
    """The sampled (N, C, Ho, Wo) tensor."""
    _, _, h, w = x.shape
    g = grid.astype(np.float64)
    cx = source_coords(g[..., 0], w, padding, align)
    cy = source_coords(g[..., 1], h, padding, align)
    if mode == "nearest":
        # Round half to even, as std::nearbyint does in MindSpore's and PyTorch's CPU kernels.
        out = _gather(x, np.rint(cy).astype(np.intp), np.rint(cx).astype(np.intp))
        return out.astype(x.dtype, copy=False)
    x0, y0 = np.floor(cx), np.floor(cy)
    wx1, wy1 = cx - x0, cy - y0
    wx0, wy0 = 1.0 - wx1, 1.0 - wy1
    x0i, y0i = x0.astype(np.intp), y0.astype(np.intp)
    acc = np.zeros((x.shape[0], x.shape[1]) + cx.shape[1:], np.float64)
    for dy, wy in ((0, wy0), (1, wy1)):
        for dx, wx in ((0, wx0), (1, wx1)):
            acc += _gather(x, y0i + dy, x0i + dx) * (wy * wx)[:, None]
    return acc.astype(x.dtype)


@kernel("GridSampler2D")
def build_grid_sampler_2d(node: Node, args: list[Arg]) -> Kernel:
    """Bilinear/nearest sampling with zeros/border/reflection padding."""
    mode = str(param(node, args, "interpolation_mode")).lower()
    padding = str(param(node, args, "padding_mode")).lower()
    align = bool(param(node, args, "align_corners"))
    if mode not in ("bilinear", "nearest"):
        raise unsupported(node, f"interpolation_mode={mode!r} (bilinear and nearest are supported)")
    if padding not in ("zeros", "border", "reflection"):
        raise unsupported(node, f"padding_mode={padding!r}")
    return lambda x, grid, *_: grid_sample(as_array(x), as_array(grid), mode, padding, align)
