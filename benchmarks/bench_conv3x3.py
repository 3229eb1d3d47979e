"""The cpu plugin's two 3x3 stride-1 convolution kernels side by side: im2col and Winograd F(2x2, 3x3).

For each layer shape (batch, side, channels in, channels out; 'pad' 1 on every side) both kernels run
on the same random input, in turns within one process, on 1 and then 2 threads; it prints the median
times, their ratio and the largest difference between the two results relative to the largest output
(a sanity check, not the accuracy test: that is ``tests/plugins/cpu/test_winograd.py``). The
default shapes are resnet18's. No zoo needed.

    OPENBLAS_CORETYPE= .venv/bin/python benchmarks/bench_conv3x3.py [--shapes 8,56,64,64 ...]
        [--threads 1 2] [--loops 15]

Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from mindinfer_cpu import parallel
from mindinfer_cpu._allocator import keep_freed_memory
from mindinfer_cpu._blas import single_threaded_blas
from mindinfer_cpu.kernels import winograd_nhwc
from mindinfer_cpu.kernels.conv import ConvGeom
from mindinfer_cpu.kernels.conv_nhwc import make_conv_nhwc

RESNET18 = ["8,56,64,64", "8,28,128,128", "8,14,256,256", "8,7,512,512", "1,56,64,64", "1,14,256,256"]


def median_ms(fn: Callable[[], Any], loops: int) -> float:
    fn()
    times = []
    for _ in range(loops):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=RESNET18, help="BATCH,SIDE,CIN,COUT")
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--loops", type=int, default=15)
    args = ap.parse_args()
    keep_freed_memory()  # as a compiled model would have it
    rng = np.random.default_rng(0)
    g = ConvGeom(3, 3, 1, 1, mode="pad", pads=(1, 1, 1, 1))
    print(f"{'shape':>16} {'threads':>7} {'im2col ms':>10} {'winograd ms':>12} {'ratio':>6} {'max rel diff':>13}")
    for spec in args.shapes:
        n, side, cin, cout = (int(v) for v in spec.split(","))
        x = rng.standard_normal((n, side, side, cin), np.float32)
        w = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(9 * cin)).astype(np.float32)
        saved = winograd_nhwc.MIN_CHANNELS
        winograd_nhwc.MIN_CHANNELS = 1 << 30  # compile an im2col-only kernel for comparison
        plain = make_conv_nhwc(w, 1, g, None)
        winograd_nhwc.MIN_CHANNELS = saved
        u = winograd_nhwc.transform_weight(w.transpose(2, 3, 1, 0))
        for threads in args.threads:
            with single_threaded_blas(), parallel.using(parallel.Workers(threads)):
                want = plain(x)
                got = winograd_nhwc.conv3x3(x, u, g.pads, None, None)
                if got is None:
                    print(f"{spec:>16} {threads:>7}  too few tiles: the plugin uses im2col here")
                    continue
                a = median_ms(partial(plain, x), args.loops)
                b = median_ms(partial(winograd_nhwc.conv3x3, x, u, g.pads, None, None), args.loops)
                diff = float(np.abs(got - want).max() / np.abs(want).max())
            print(f"{spec:>16} {threads:>7} {a:>10.2f} {b:>12.2f} {b / a:>6.2f} {diff:>13.1e}")


if __name__ == "__main__":
    main()
