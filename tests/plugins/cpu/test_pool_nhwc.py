"""The channels-last pooling kernel against the NCHW one (which pads explicitly), over many geometries."""

from __future__ import annotations

import numpy as np
import pytest
from mindinfer_cpu import parallel
from mindinfer_cpu.kernels.conv import ConvGeom
from mindinfer_cpu.kernels.conv_nhwc import pool_nhwc
from mindinfer_cpu.kernels.pool import avg_pool, max_pool

GEOMS = [
    ConvGeom(3, 3, 2, 2, mode="same"),  # resnet's stem pool
    ConvGeom(3, 3, 1, 1, mode="same"),
    ConvGeom(2, 2, 2, 2, mode="valid"),
    ConvGeom(3, 3, 2, 2, mode="valid"),
    ConvGeom(5, 3, 2, 1, mode="same"),
    ConvGeom(3, 3, 2, 2, mode="pad", pads=(1, 1, 1, 1), ceil=True),
    ConvGeom(3, 3, 2, 2, mode="pad", pads=(0, 1, 1, 0)),
    ConvGeom(7, 7, 1, 1, mode="valid"),  # one output pixel from a 7x7 map
]


@pytest.mark.parametrize("g", GEOMS, ids=[f"{g.kh}x{g.kw}s{g.sh}{g.sw}-{g.mode}{g.pads}{g.ceil}" for g in GEOMS])
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("threads", [1, 2])
def test_pool_nhwc_matches_the_padded_nchw_pool(g: ConvGeom, kind: str, threads: int) -> None:
    x = np.random.default_rng(0).standard_normal((3, 7, 7, 5)).astype(np.float32) - 0.5
    x = np.concatenate([x, x * 3 + 1], axis=1)  # 14x7: non-square
    want = (max_pool if kind == "max" else avg_pool)(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), g)
    workers = parallel.Workers(threads)
    try:
        with parallel.using(workers):
            got = pool_nhwc(x, g, kind)
    finally:
        workers.close()
    np.testing.assert_allclose(got, want.transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-6)


def test_max_pool_nhwc_keeps_integer_dtypes() -> None:
    x = np.arange(2 * 6 * 6 * 3, dtype=np.int32).reshape(2, 6, 6, 3) * -1
    got = pool_nhwc(x, ConvGeom(3, 3, 2, 2, mode="same"), "max")
    want = max_pool(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), ConvGeom(3, 3, 2, 2, mode="same"))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want.transpose(0, 2, 3, 1))
