"""The nodes the layout pass (:mod:`..layout`) inserts: layout conversions and NHWC channel shuffles.

None of these are MindSpore primitives, so they are registered as internal kernels, not capabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer.ir import Node

from ..registry import INTERNAL, Arg, Kernel

#: Attribute of a ``cpu.ChannelShuffle`` node: (a, b), the channel axis read as a x b (channel
#: ``j * b + i`` is cell (j, i)).
SPLIT = "split"
#: Attribute of a ``cpu.ChannelShuffle`` node: the column i to keep, or None for the whole transpose.
PICK = "pick"


def _to_nhwc(node: Node, args: list[Arg]) -> Kernel:
    """NCHW -> NHWC, contiguous."""
    return lambda x, *_: np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))


def _to_nchw(node: Node, args: list[Arg]) -> Kernel:
    """NHWC -> NCHW, contiguous."""
    return lambda x, *_: np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))


def _channel_shuffle(node: Node, args: list[Arg]) -> Kernel:
    """A channel shuffle of an NHWC tensor, the channel axis read as an (a, b) grid.

    Without a pick, channels come out transposed (b, a): ShuffleNet v1's shuffle, one copy. With a
    pick i, the result is column i, channels ``i, b + i, 2b + i, ...``: one half of ShuffleNet v2's
    shuffle-and-split. That is returned as a strided view, because its consumers copy anyway (a
    Concat, or a 1x1 convolution's reshape into matrix rows), so it costs one pass instead of two.
    """
    a, b = (int(v) for v in node.attrs[SPLIT])
    pick = node.attrs.get(PICK)

    def run(x: np.ndarray, *_: Any) -> np.ndarray:
        grid = x.reshape(x.shape[:-1] + (a, b))
        if pick is not None:
            return grid[..., int(pick)]
        return np.ascontiguousarray(grid.swapaxes(-1, -2)).reshape(x.shape)

    return run


INTERNAL.register("cpu.ToNHWC")(_to_nhwc)
INTERNAL.register("cpu.ToNCHW")(_to_nchw)
INTERNAL.register("cpu.ChannelShuffle")(_channel_shuffle)
