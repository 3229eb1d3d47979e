"""Window geometry shared by convolution and pooling kernels (NCHW and NHWC alike).

Its own module so that the convolution and pooling modules import it and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["ConvGeom", "out_and_pads", "pad_nchw", "taps", "valid_counts", "windows"]


@dataclass(frozen=True)
class ConvGeom:
    """Kernel window, strides, dilations and padding rule of a 2-D convolution or pooling."""

    kh: int
    kw: int
    sh: int
    sw: int
    dh: int = 1
    dw: int = 1
    mode: str = "valid"
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, bottom, left, right
    ceil: bool = False

    def padding(self, h: int, w: int) -> tuple[int, int, int, int]:
        """Padding for an input of spatial size (h, w); 'same' puts the odd pixel at the end (TF rule)."""
        if self.mode == "same":
            ph = max(0, (-(-h // self.sh) - 1) * self.sh + (self.kh - 1) * self.dh + 1 - h)
            pw = max(0, (-(-w // self.sw) - 1) * self.sw + (self.kw - 1) * self.dw + 1 - w)
            return ph // 2, ph - ph // 2, pw // 2, pw - pw // 2
        if self.mode == "valid":
            return 0, 0, 0, 0
        return self.pads

    def out_size(self, hp: int, wp: int) -> tuple[int, int]:
        """Output size for a padded input of size (hp, wp)."""
        eh, ew = (self.kh - 1) * self.dh + 1, (self.kw - 1) * self.dw + 1
        if self.ceil:
            oh, ow = -(-(hp - eh) // self.sh) + 1, -(-(wp - ew) // self.sw) + 1
        else:
            oh, ow = (hp - eh) // self.sh + 1, (wp - ew) // self.sw + 1
        return oh, ow


def pad_nchw(x: np.ndarray, pads: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    """x with spatial padding (top, bottom, left, right); one allocation, no np.pad overhead."""
    pt, pb, pl, pr = pads
    if not (pt or pb or pl or pr):
        return x
    n, c, h, w = x.shape
    out = np.empty((n, c, h + pt + pb, w + pl + pr), x.dtype)
    if value == 0.0:
        # Only the border needs filling; the interior is overwritten just below.
        out[:, :, :pt] = 0
        out[:, :, h + pt :] = 0
        out[:, :, pt : h + pt, :pl] = 0
        out[:, :, pt : h + pt, w + pl :] = 0
    else:
        out.fill(value)
    out[:, :, pt : pt + h, pl : pl + w] = x
    return out


def windows(xp: np.ndarray, g: ConvGeom, oh: int, ow: int) -> np.ndarray:
    """A no-copy view (N, C, kh, kw, OH, OW) of every window of a padded NCHW input."""
    n, c = xp.shape[:2]
    s0, s1, s2, s3 = xp.strides
    return as_strided(
        xp, (n, c, g.kh, g.kw, oh, ow), (s0, s1, s2 * g.dh, s3 * g.dw, s2 * g.sh, s3 * g.sw), writeable=False
    )


def taps(xp: np.ndarray, g: ConvGeom, oh: int, ow: int) -> list[np.ndarray]:
    """The kh*kw shifted strided views (N, C, OH, OW) of a padded input, one per kernel tap."""
    out = []
    for i in range(g.kh):
        for j in range(g.kw):
            h0, w0 = i * g.dh, j * g.dw
            out.append(xp[:, :, h0 : h0 + (oh - 1) * g.sh + 1 : g.sh, w0 : w0 + (ow - 1) * g.sw + 1 : g.sw])
    return out


def out_and_pads(g: ConvGeom, h: int, w: int) -> tuple[tuple[int, int, int, int], int, int]:
    """Padding (with ceil-mode extension at the end) and output size, PyTorch's ceil rule included."""
    pt, pb, pl, pr = g.padding(h, w)
    oh, ow = g.out_size(h + pt + pb, w + pl + pr)
    if g.ceil:
        # The last window must start inside the input or the leading padding.
        if (oh - 1) * g.sh >= h + pt:
            oh -= 1
        if (ow - 1) * g.sw >= w + pl:
            ow -= 1
        pb = max(pb, (oh - 1) * g.sh + (g.kh - 1) * g.dh + 1 - h - pt)
        pr = max(pr, (ow - 1) * g.sw + (g.kw - 1) * g.dw + 1 - w - pl)
    return (pt, pb, pl, pr), oh, ow


@lru_cache(maxsize=64)
def valid_counts(g: ConvGeom, h: int, w: int, include_pad: bool) -> np.ndarray:
    """Per-output divisor: window elements inside the input (or inside input+padding)."""
    pads, oh, ow = out_and_pads(g, h, w)
    pt, pb, pl, pr = pads
    ones = np.ones((1, 1, h, w), np.float64)
    if include_pad:
        base = g.padding(h, w)
        ones = np.ones((1, 1, h + base[0] + base[1], w + base[2] + base[3]), np.float64)
        pads = (pt - base[0], pb - base[1], pl - base[2], pr - base[3])
    mp = pad_nchw(ones, pads, 0.0)
    total = sum(v for v in taps(mp, g, oh, ow))
    return np.maximum(total, 1.0)[0, 0]
