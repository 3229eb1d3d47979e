"""im2col convolution in NHWC, computed in row blocks split over the run's threads.

A large convolution output (tens of MB at batch 8) does not fit in cache: computing it whole and
then running the bias/activation epilogue over it costs extra trips through memory, and an im2col
matrix kh*kw times the input's size costs more. Computed block by block into the output, each block's
im2col copy and epilogue stay in cache (measured on one thread: resnet18's 56x56x64 3x3 layer at batch
8 goes from 24.6 to 15.4 ms, mobilenet_v2's 112x112 16->96 expansion from 8.3 to 6.4 ms). The blocks
are shared out over the run's thread pool (:mod:`..parallel`), copies and products alike; 1x1
convolutions need no copy and go straight to :func:`..parallel.matmul`, which blocks the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import parallel

Post = Callable[[np.ndarray], np.ndarray] | None

#: Elements of one block's im2col matrix: a block stays in the L2 cache.
BLOCK_ELEMENTS = 1 << 18
#: Output pixels of one block at least, even past that budget: every product call repacks the whole
#: weight, and a deep layer's weight (resnet18's last: 4608 x 512, 9 MB) cut into 56-pixel blocks
#: was packed 7 times per run (measured: resnet18 b8, 2 threads, 86-93 -> 80-87 ms).
MIN_BLOCK_PIXELS = 256


def im2col(win: np.ndarray, w2: np.ndarray, post: Post, residual: np.ndarray | None = None) -> np.ndarray:
    """``post(im2col(win) @ w2 + residual)`` for a window view (N, OH, OW, kh, kw, C); result (N, OH, OW, O)."""
    n, oh, ow = win.shape[:3]
    k, o = w2.shape
    out = np.empty((n, oh, ow, o), np.result_type(win.dtype, w2.dtype))
    # Work items are output rows of all images, (image, row) flattened; a block is whole rows.
    total = n * oh
    flat = out.reshape(total * ow, o)
    res = None if residual is None else residual.reshape(total * ow, o)
    step = max(1, BLOCK_ELEMENTS // (ow * k), -(-MIN_BLOCK_PIXELS // ow))

    def part(r0: int, r1: int) -> None:
        cols = np.empty((min(step, r1 - r0) * ow, k), win.dtype)
        for a in range(r0, r1, step):
            b = min(r1, a + step)
            m = (b - a) * ow
            block = cols[:m]
            _gather_rows(win, a, b, oh, block.reshape(b - a, ow, k))
            dst = flat[a * ow : b * ow]
            np.matmul(block, w2, out=dst)
            if res is not None:
                dst += res[a * ow : b * ow]
            if post is not None:
                post(dst)

    parallel.split(part, total, -(-parallel.MIN_PART_MACS // max(1, ow * k * o)))
    return out


def _gather_rows(win: np.ndarray, a: int, b: int, oh: int, dst: np.ndarray) -> None:
    """Copy the windows of flattened output rows a..b ((image, row) pairs) into dst (rows, OW, kh*kw*C)."""
    kw_shape = win.shape[3:]
    while a < b:
        img, r = divmod(a, oh)
        e = min(b, (img + 1) * oh)
        dst[: e - a].reshape((e - a,) + win.shape[2:3] + kw_shape)[...] = win[img, r : r + e - a]
        dst = dst[e - a :]
        a = e


__all__ = ["im2col"]
