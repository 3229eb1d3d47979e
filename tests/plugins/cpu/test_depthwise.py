"""The NHWC depthwise kernel against the definition of a depthwise convolution, over many geometries.

The reference is the convolution written out tap by tap in float64 on an explicitly zero-padded input;
these are kernel-level checks (whole-model numbers are compared with MindSpore's in test_zoo/test_cases).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from mindinfer_cpu import parallel
from mindinfer_cpu.kernels import depthwise_nhwc
from mindinfer_cpu.kernels.conv import ConvGeom
from mindinfer_cpu.kernels.depthwise_nhwc import Post, make_depthwise_nhwc


def _pads(mode: str, pads: tuple[int, int, int, int], h: int, w: int, k: int, s: int, d: int) -> tuple[int, ...]:
    """Padding by definition: explicit for 'pad', none for 'valid', TF 'same' (odd pixel at the end)."""
    if mode == "pad":
        return pads
    if mode == "valid":
        return (0, 0, 0, 0)
    out = []
    for size in (h, w):
        total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
        out += [total // 2, total - total // 2]
    return tuple(out)


def _reference(x: np.ndarray, weight: np.ndarray, k: int, s: int, d: int, pads: tuple[int, ...]) -> np.ndarray:
    pt, pb, pl, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh = (xp.shape[1] - (k - 1) * d - 1) // s + 1
    ow = (xp.shape[2] - (k - 1) * d - 1) // s + 1
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i, j in itertools.product(range(k), range(k)):
        win = xp[:, i * d : i * d + (oh - 1) * s + 1 : s, j * d : j * d + (ow - 1) * s + 1 : s]
        out += win * weight[:, 0, i, j].astype(np.float64)
    return out


def _run(x: np.ndarray, weight: np.ndarray, g: ConvGeom, threads: int = 1, post: Post = None) -> np.ndarray:
    kernel = make_depthwise_nhwc(weight, g, post)
    workers = parallel.Workers(threads)
    try:
        with parallel.using(workers):
            return kernel(x)
    finally:
        workers.close()


GEOMETRIES = [
    # (n, h, w, c, k, s, d, mode, pads)
    (1, 7, 7, 3, 3, 1, 1, "same", (0, 0, 0, 0)),
    (3, 9, 11, 5, 3, 2, 1, "same", (0, 0, 0, 0)),
    (2, 8, 8, 4, 3, 2, 1, "same", (0, 0, 0, 0)),
    (1, 10, 9, 6, 5, 1, 1, "same", (0, 0, 0, 0)),
    (3, 11, 12, 2, 5, 2, 1, "same", (0, 0, 0, 0)),
    (1, 13, 13, 3, 7, 1, 1, "same", (0, 0, 0, 0)),
    (1, 12, 15, 4, 7, 2, 1, "same", (0, 0, 0, 0)),
    (1, 14, 13, 3, 9, 1, 1, "same", (0, 0, 0, 0)),
    (2, 17, 16, 2, 9, 2, 1, "same", (0, 0, 0, 0)),
    (1, 9, 9, 4, 3, 1, 2, "same", (0, 0, 0, 0)),
    (3, 12, 11, 3, 3, 2, 2, "same", (0, 0, 0, 0)),
    (1, 13, 12, 2, 5, 1, 2, "same", (0, 0, 0, 0)),
    (1, 9, 10, 5, 3, 1, 1, "valid", (0, 0, 0, 0)),
    (3, 11, 9, 3, 3, 2, 1, "valid", (0, 0, 0, 0)),
    (1, 12, 12, 2, 5, 2, 2, "valid", (0, 0, 0, 0)),
    (1, 8, 9, 3, 3, 1, 1, "pad", (1, 1, 1, 1)),
    (3, 9, 8, 4, 3, 2, 1, "pad", (1, 1, 1, 1)),
    (1, 9, 9, 3, 3, 2, 1, "pad", (0, 1, 0, 1)),
    (1, 10, 11, 3, 3, 1, 1, "pad", (2, 0, 0, 3)),
    (3, 10, 10, 2, 5, 2, 1, "pad", (2, 2, 2, 2)),
    (1, 11, 10, 3, 5, 1, 2, "pad", (4, 4, 4, 4)),
    (1, 6, 6, 3, 3, 3, 1, "pad", (1, 1, 1, 1)),
    (1, 3, 3, 2, 5, 1, 1, "pad", (2, 2, 2, 2)),
    (1, 1, 1, 4, 3, 1, 1, "same", (0, 0, 0, 0)),
    (3, 5, 5, 1, 1, 2, 1, "valid", (0, 0, 0, 0)),
]


@pytest.mark.parametrize(("n", "h", "w", "c", "k", "s", "d", "mode", "pads"), GEOMETRIES)
def test_depthwise_matches_the_definition(
    n: int,
    h: int,
    w: int,
    c: int,
    k: int,
    s: int,
    d: int,
    mode: str,
    pads: tuple[int, int, int, int],
) -> None:
    rng = np.random.default_rng(n * 1000 + h * 100 + k * 10 + s)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    weight = rng.standard_normal((c, 1, k, k)).astype(np.float32)
    g = ConvGeom(k, k, s, s, d, d, mode, pads)
    expected = _reference(x, weight, k, s, d, _pads(mode, pads, h, w, k, s, d))
    got = _run(x, weight, g)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("k", "s", "d"), [(3, 1, 1), (3, 2, 1), (5, 2, 1), (3, 1, 2)])
def test_depthwise_chunks_and_threads_cover_every_row_once(
    monkeypatch: pytest.MonkeyPatch, k: int, s: int, d: int
) -> None:
    # Tiny chunks and parts force partial-image chunks, multi-image chunks and a two-thread split.
    rng = np.random.default_rng(k + s + d)
    x = rng.standard_normal((3, 23, 19, 6)).astype(np.float32)
    weight = rng.standard_normal((6, 1, k, k)).astype(np.float32)
    g = ConvGeom(k, k, s, s, d, d, "same")
    expected = _reference(x, weight, k, s, d, _pads("same", (0,) * 4, 23, 19, k, s, d))
    bias = rng.standard_normal(6)

    def post(y: np.ndarray) -> np.ndarray:  # applied twice or to the wrong rows, it would show
        y += bias
        return np.maximum(y, 0, out=y)

    for chunk, min_part in [(19 * 6 * 4, 19 * 6 * 5), (2000, 1), (10**6, 1)]:
        monkeypatch.setattr(depthwise_nhwc, "CHUNK_ELEMENTS", chunk)
        monkeypatch.setattr(depthwise_nhwc, "MIN_PART_ELEMENTS", min_part)
        got = _run(x, weight, g, threads=2, post=post)
        np.testing.assert_allclose(got, np.maximum(expected + bias, 0), rtol=1e-5, atol=1e-5)


def test_depthwise_rectangular_kernel_and_mixed_strides() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 10, 13, 3)).astype(np.float32)
    weight = rng.standard_normal((3, 1, 3, 5)).astype(np.float32)
    g = ConvGeom(3, 5, 2, 1, 1, 2, "pad", (1, 0, 4, 3))
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 0), (4, 3), (0, 0)))
    oh, ow = (xp.shape[1] - 3) // 2 + 1, xp.shape[2] - 8
    expected = np.zeros((2, oh, ow, 3))
    for i, j in itertools.product(range(3), range(5)):
        expected += xp[:, i : i + (oh - 1) * 2 + 1 : 2, 2 * j : 2 * j + ow] * weight[:, 0, i, j]
    np.testing.assert_allclose(_run(x, weight, g), expected, rtol=1e-5, atol=1e-5)


def test_depthwise_float16_rounds_once() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 12, 12, 8)).astype(np.float16)
    weight = rng.standard_normal((8, 1, 5, 5)).astype(np.float16)
    got = _run(x, weight, ConvGeom(5, 5, 2, 2, mode="same"))
    expected = _reference(x, weight, 5, 2, 1, _pads("same", (0,) * 4, 12, 12, 5, 2, 1))
    assert got.dtype == np.float16
    # Accumulated in float32 and rounded once: within half an ulp of float16 of the exact value.
    np.testing.assert_allclose(got, expected, rtol=2**-11, atol=1e-3)


def test_depthwise_non_contiguous_input_and_empty_output() -> None:
    rng = np.random.default_rng(5)
    base = rng.standard_normal((2, 9, 9, 8)).astype(np.float32)
    x = base[:, :, :, ::2]  # channel-strided view
    weight = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    expected = _reference(x, weight, 3, 1, 1, (1, 1, 1, 1))
    np.testing.assert_allclose(_run(x, weight, ConvGeom(3, 3, 1, 1, mode="same")), expected, rtol=1e-5, atol=1e-5)
    empty = _run(np.zeros((1, 2, 2, 4), np.float32), weight, ConvGeom(3, 3, 1, 1, mode="valid"))
    assert empty.shape == (1, 0, 0, 4)


def test_depthwise_one_kernel_serves_several_input_sizes_and_dtypes() -> None:
    # Tiled weights are cached per output width and dtype, the staging buffer is reused per thread.
    rng = np.random.default_rng(11)
    weight = rng.standard_normal((5, 1, 3, 3)).astype(np.float32)
    kernel = make_depthwise_nhwc(weight, ConvGeom(3, 3, 2, 2, mode="same"), None)
    for shape, dtype in [((2, 9, 9, 5), np.float32), ((1, 16, 7, 5), np.float32), ((2, 9, 9, 5), np.float64)]:
        x = rng.standard_normal(shape).astype(dtype)
        expected = _reference(x, weight, 3, 2, 1, _pads("same", (0,) * 4, shape[1], shape[2], 3, 2, 1))
        got = kernel(x)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
