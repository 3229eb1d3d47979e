"""3x3 stride-1 convolution in NHWC by Winograd's minimal filtering, F(2x2, 3x3).

Each 2x2 block of output pixels (a tile) is computed from the 4x4 input patch around it as
``A^T [(G g G^T) * (B^T d B)] A``: the input patch and the kernel are transformed, multiplied
elementwise in the transformed domain and transformed back (Lavin and Gray, "Fast Algorithms for
Convolutional Neural Networks", 2016). Summed over input channels, the 16 elementwise products
become 16 matrix products (tiles, C) @ (C, O), with 16 multiply-adds per tile and channel pair
where im2col needs 36: 2.25 times fewer. The transforms are additions and subtractions only
(the kernel's, with its halves, is done once at compile time, in float64).

Why here: after the im2col copy moved into cache-sized blocks, resnet18's 3x3 convolutions were
matrix products running near the BLAS's peak, so only fewer multiply-adds could make them faster.
Measured against im2col at batch 8 on resnet18's layer shapes, 1 / 2 threads: 56x56x64 9.3 -> 7.5 /
5.1 -> 4.4 ms, 28x28x128 8.2 -> 5.3 / 4.5 -> 3.0 ms, 14x14x256 8.1 -> 4.7 / 4.2 -> 2.8 ms; whole
resnet18 b8 at 2 threads 84 -> 72 ms (two sessions in one process, compiled with and without it,
run in turns).

Rounding: a few extra additions per output, with transform coefficients 0, +-1 and +-1/2 (exact in
binary), so errors stay at float32 level; that is why F(2x2, 3x3) and not the larger, less accurate
F(4x4, 3x3). Against a float64 evaluation of the whole network (``tools/precision_check.py``),
resnet50, inception_v3 and skresnet18 at batch 8 stay within 0.47-0.71 of the issue's tolerance,
as MindSpore's own outputs do (0.63-0.77).

Work is cut like im2col's: blocks of whole tile rows (a tile row is two output rows of one image),
each staged, transformed, multiplied and transformed back in turn, with the skip connection and the
bias/activation epilogue applied to the block's output rows; blocks are split over the run's
threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .. import parallel
from ._window import ConvGeom

Post = Callable[[np.ndarray], object] | None

#: Kernel transform G (4x3): U = G g G^T for each (output, input) channel pair.
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])

#: Values of one block's transformed input or product (16 * tiles * channels). Larger than im2col's
#: blocks: a block costs some 20 numpy calls, whose Python overhead holds the GIL that the other
#: threads need (measured, 2 threads, batch 8: 56x56x64 4.65 -> 4.35 ms, 28x28x128 3.40 -> 2.98 ms
#: going from 2**18 values and 128 tiles to these; 2**20 is slower again).
BLOCK_ELEMENTS = 1 << 19
#: Tiles of one block at least, even past that budget: each of the 16 products of a block is one
#: BLAS call, and fewer rows than this leave it far from its peak.
MIN_BLOCK_TILES = 256
#: Channels (input and output) a convolution needs for the transforms to pay off; below this the
#: products are cheap and the transforms' passes dominate (measured, 2 threads, batch 8: 56x56 with
#: 32 channels 1.3x slower than im2col, with 64 channels 0.9x).
MIN_CHANNELS = 64
#: Tiles a run needs: with fewer, each product is bound by reading its weight, 16/9 the size of
#: im2col's (measured, 2 threads: 7x7x512 at batch 2, 32 tiles, 1.1x slower; 14x14x256 at batch 1,
#: 49 tiles, 0.86x).
MIN_TILES = 48


def suits(weight: np.ndarray, groups: int, g: ConvGeom, in_shape: tuple[int, ...] | None = None) -> bool:
    """Whether a convolution of this weight (O, C, kh, kw) and geometry runs faster by Winograd here.

    ``in_shape`` (the NHWC input's, -1 where dynamic), when static, rules out maps with too few
    tiles to ever use it, so that they do not keep a transformed weight (16/9 the size) for nothing.
    float16 keeps im2col: its float32 products round once, where the transforms would add steps.
    """
    o, c, kh, kw = weight.shape
    if in_shape is not None and len(in_shape) == 4 and min(in_shape) >= 0:
        n, h, w, _ = in_shape
        pt, pb, pl, pr = g.padding(h, w)
        oh, ow = g.out_size(h + pt + pb, w + pl + pr)
        if n * -(-oh // 2) * -(-ow // 2) < MIN_TILES:
            return False
    return (
        groups == 1
        and kh == kw == 3
        and g.sh == g.sw == g.dh == g.dw == 1
        and weight.dtype == np.float32
        and min(c, o) >= MIN_CHANNELS
    )


#: Storage order of the 4 transformed rows (and columns) of a tile: true index 0, 3, 1, 2. It puts
#: the two that are differences of rows 2 apart (0 = d0 - d2, 3 = d1 - d3) side by side, so both
#: come from one subtraction.
_ORDER = (0, 3, 1, 2)
#: (C, O) pairs transformed at once by :func:`transform_weight`.
_TRANSFORM_SLICE = 1 << 16


def transform_weight(hwio: np.ndarray) -> np.ndarray:
    """The kernel, given as (3, 3, C, O), in the transformed domain, laid out for the products: (16, C, O).

    U = G g G^T as two small matrix products, in float64, a slice of (C, O) pairs at a time, so that
    float64 temporaries stay small (measured: resnet18's 512-channel kernel in 12 ms, where one einsum
    over the whole kernel took 50 ms; resnet18 compiled for every layer, with 32 MB of transformed
    weights, resident 246 MB, where the einsum had left it at 286 MB).
    """
    _, _, c, o = hwio.shape
    flat = hwio.reshape(3, 3, c * o)
    gr = _G[list(_ORDER)]
    out = np.empty((4, 4, c * o), np.float32)
    for j0 in range(0, c * o, _TRANSFORM_SLICE):
        g = flat[:, :, j0 : j0 + _TRANSFORM_SLICE].astype(np.float64)
        out[:, :, j0 : j0 + g.shape[2]] = np.matmul(gr, (gr @ g.reshape(3, -1)).reshape(4, 3, -1))
    return out.reshape(16, c, o)


def conv3x3(
    x: np.ndarray, u: np.ndarray, pads: tuple[int, int, int, int], post: Post, residual: np.ndarray | None
) -> np.ndarray | None:
    """``post(conv(x) + residual)`` for x (N, H, W, C), stride 1, padding ``pads`` (top, bottom, left,
    right), with ``u`` from :func:`transform_weight`;
    None when the input has too few tiles for this to be faster (the caller uses im2col)."""
    n, h, w, c = x.shape
    o = u.shape[2]
    pt, pb, pl, pr = pads
    oh, ow = h + pt + pb - 2, w + pl + pr - 2
    th, tw = -(-oh // 2), -(-ow // 2)
    if min(oh, ow) <= 0 or n * th * tw < MIN_TILES:  # an empty output included
        return None
    out = np.empty((n, oh, ow, o), np.float32)
    flat = out.reshape(n * oh * ow, o)
    res = None if residual is None else residual.reshape(n * oh * ow, o)
    # With even output sides, tile row (image, t) is out's rows 2t and 2t+1: written in place.
    tiled = out.reshape(n * th, 2, tw, 2, o) if oh % 2 == 0 and ow % 2 == 0 else None
    rows = max(1, -(-max(MIN_BLOCK_TILES, BLOCK_ELEMENTS // (16 * max(c, o))) // tw))
    staging = _Staging(x, th, tw, pt, pl)

    def part(u0: int, u1: int) -> None:
        b = min(rows, u1 - u0)
        # Every image a block touches adds a 2-row halo to the staged input.
        stage = np.zeros((b * 2 + 2 * min(b, n), 2, tw + 1, c), np.float32)
        t = np.empty((4, b, 2 * (tw + 1) * c), np.float32)
        v = np.empty((16, b * tw, c), np.float32)
        m = np.empty((16, b * tw, o), np.float32)
        p = np.empty((2, 4, b * tw, o), np.float32)
        # Odd output sides: tile rows are computed here, then cropped into ``out`` (else unused, empty).
        spill = np.empty((b if tiled is None else 0, 2, tw, 2, o), np.float32)
        for a0 in range(u0, u1, b):
            a1 = min(u1, a0 + b)
            k = a1 - a0
            staging.row_transform(a0, a1, stage, t[:, :k])
            _column_transform(t[:, :k].reshape(4, k, 2, tw + 1, c), v[:, : k * tw].reshape(4, 4, k, tw, c))
            np.matmul(v[:, : k * tw], u, out=m[:, : k * tw])
            y = tiled[a0:a1] if tiled is not None else spill[:k]
            _output_transform(m[:, : k * tw].reshape(4, 4, k, tw, o), p[:, :, : k * tw].reshape(2, 4, k, tw, o), y)
            if tiled is None:
                _crop(y, th, oh, ow, a0, a1, out)
            # The block's output rows, contiguous in ``flat``: image a0 // th, row 2 * (a0 % th) on.
            r0 = (a0 // th) * oh + 2 * (a0 % th)
            r1 = ((a1 - 1) // th) * oh + min(oh, 2 * ((a1 - 1) % th) + 2)
            dst = flat[r0 * ow : r1 * ow]
            if res is not None:
                dst += res[r0 * ow : r1 * ow]
            if post is not None:
                post(dst)

    parallel.split(part, n * th, max(1, -(-parallel.MIN_PART_MACS // (16 * tw * c * o))))
    return out


class _Staging:
    """Copies a block's input rows, zero-padded, with columns split by parity, and transforms them.

    In the staged row, padded column ``2s + q`` sits at (phase q, slot s): the four columns of every
    tile (2tx .. 2tx+3) are then slot tx and tx+1 of the two phases, so each column combination of
    the transform is one subtraction or addition over contiguous runs of ``tw * C`` values rather
    than over C-value pieces two pixels apart. Staging per block also replaces a serial padded copy
    of the whole input by one the threads share, done while the block is in cache.
    """

    def __init__(self, x: np.ndarray, th: int, tw: int, pt: int, pl: int) -> None:
        self.x, self.th, self.pt = x, th, pt
        w = x.shape[2]
        # Per phase q: the slots that hold input columns (the rest stay zero: padding) and the first one.
        self.cols = []
        for q in (0, 1):
            s0, s1 = max(0, -((q - pl) // 2)), min(tw + 1, (w - 1 + pl - q) // 2 + 1)
            self.cols.append((q, s0, s1, 2 * s0 + q - pl))

    def row_transform(self, a0: int, a1: int, stage: np.ndarray, t: np.ndarray) -> None:
        """t[i] = (B^T d)[i] for the patches of tile rows a0..a1, in :data:`_ORDER`.

        B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]] on the 4 rows of each patch.
        """
        x = self.x
        h = x.shape[1]
        length = t.shape[2]
        row = 0
        for img, r, at, k in _segments(a0, a1, self.th):  # each image's rows staged with their own halo
            st = stage[row : row + 2 * k + 2]
            top = 2 * r - self.pt
            i0, i1 = max(0, -top), max(0, min(len(st), h - top))
            st[:i0] = 0
            st[max(i0, i1) :] = 0
            for q, s0, s1, c0 in self.cols:
                if i1 > i0 and s1 > s0:
                    st[i0:i1, q, s0:s1] = x[img, top + i0 : top + i1, c0 : c0 + 2 * (s1 - s0 - 1) + 1 : 2]
            flat = st.reshape(len(st), length)
            rs = flat.strides[0]
            d = np.ndarray((k, 4, length), np.float32, flat, 0, (2 * rs, rs, flat.strides[1]))
            seg = t[:, at : at + k]
            np.subtract(d[:, 0:2], d[:, 2:4], out=seg[0:2].transpose(1, 0, 2))  # rows 0 and 3
            np.add(d[:, 1], d[:, 2], out=seg[2])  # row 1
            np.subtract(d[:, 2], d[:, 1], out=seg[3])  # row 2
            row += 2 * k + 2


def _segments(a0: int, a1: int, th: int) -> Iterator[tuple[int, int, int, int]]:
    """(image, first tile row in it, offset in the block, tile rows) for each image that block a0..a1 meets."""
    at = 0
    while a0 < a1:
        img, r = divmod(a0, th)
        k = min(a1, (img + 1) * th) - a0
        yield img, r, at, k
        at += k
        a0 += k


def _column_transform(t: np.ndarray, v: np.ndarray) -> None:
    """v[i, j] = (B^T d B)[i, j] from t (4, k, phase, slot, C), both indices in :data:`_ORDER`."""
    tw = v.shape[3]
    np.subtract(t[:, :, :, :tw], t[:, :, :, 1:], out=v[:, 0:2].transpose(0, 2, 1, 3, 4))  # columns 0 and 3
    np.add(t[:, :, 1, :tw], t[:, :, 0, 1:], out=v[:, 2])  # column 1
    np.subtract(t[:, :, 0, 1:], t[:, :, 1, :tw], out=v[:, 3])  # column 2


def _output_transform(m: np.ndarray, p: np.ndarray, y: np.ndarray) -> None:
    """y[:, r, :, s] = (A^T M A)[r, s] for products m (4, 4, k, tw, O) in :data:`_ORDER`;
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]. ``p`` (2, 4, k, tw, O) holds A^T M."""
    m0, m3, m1, m2 = m  # storage order 0, 3, 1, 2
    np.add(m0, m1, out=p[0])
    p[0] += m2
    np.subtract(m1, m2, out=p[1])
    p[1] -= m3
    q0, q3, q1, q2 = p.transpose(1, 0, 2, 3, 4)  # each (2 rows, k, tw, O)
    y0, y1 = y.transpose(3, 1, 0, 2, 4)  # output column s: (2 rows, k, tw, O)
    np.add(q0, q1, out=y0)
    y0 += q2
    np.subtract(q1, q2, out=y1)
    y1 -= q3


def _crop(y: np.ndarray, th: int, oh: int, ow: int, a0: int, a1: int, out: np.ndarray) -> None:
    """Copy tile rows a0..a1 computed into ``y`` (k, 2, tw, 2, O) into ``out``, less an odd side's extra pixel."""
    k, _, tw, _, o = y.shape
    rows = y.reshape(k, 2, 2 * tw, o)
    for img, r, at, n in _segments(a0, a1, th):
        top = 2 * r
        count = min(oh - top, 2 * n)
        out[img, top : top + count] = rows[at : at + n].reshape(2 * n, 2 * tw, o)[:count, :ow]


__all__ = ["MIN_CHANNELS", "MIN_TILES", "conv3x3", "suits", "transform_weight"]
