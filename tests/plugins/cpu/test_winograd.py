"""Winograd F(2x2, 3x3) for wide 3x3 stride-1 convolutions (``kernels/winograd_nhwc.py``)."""

from __future__ import annotations

from typing import Any

import mindinfer
import numpy as np
import pytest
from cpu_cases import CASES, assert_matches, inputs, meta, outputs, tolerances
from mindinfer.backend import Device
from mindinfer_cpu import CpuBackend, parallel
from mindinfer_cpu.kernels import winograd_nhwc
from mindinfer_cpu.kernels.conv import ConvGeom
from mindinfer_cpu.kernels.conv_nhwc import make_conv_nhwc

BLOCKS = CASES / "op" / "winograd_blocks"


def direct_conv(x: np.ndarray, w: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """The definition, in float64: out[n, y, x, o] = sum over (i, j, c) of xp[n, y+i, x+j, c] * w[o, c, i, j]."""
    pt, pb, pl, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh, ow = xp.shape[1] - 2, xp.shape[2] - 2
    out = np.zeros((x.shape[0], oh, ow, w.shape[0]))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nyxc,oc->nyxo", xp[:, i : i + oh, j : j + ow], w[:, :, i, j].astype(np.float64))
    return out


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records each call of the Winograd kernel: True when it computed the result, False when it declined."""
    seen: list[bool] = []
    real = winograd_nhwc.conv3x3

    def spy(*args: Any) -> np.ndarray | None:
        out = real(*args)
        seen.append(out is not None)
        return out

    monkeypatch.setattr(winograd_nhwc, "conv3x3", spy)
    return seen


def test_mindspore_case_runs_on_winograd_and_matches(backend: CpuBackend, device: Device, calls: list[bool]) -> None:
    exe = backend.compile(mindinfer.load(BLOCKS / "model.mindir"), device, {"threads": 2})
    info = meta(BLOCKS)
    for i, (got, want) in enumerate(zip(exe.run(inputs(BLOCKS)), outputs(BLOCKS), strict=True)):
        assert_matches(got, want, *tolerances(info, i), f"winograd_blocks output {i}")
    # All three convolutions (13x13 twice, then 11x11; odd sides) went through the kernel.
    assert calls == [True, True, True]


@pytest.mark.parametrize(
    ("shape", "pads"),
    [
        ((2, 12, 10, 64), (1, 1, 1, 1)),  # even output sides: written in place
        ((3, 9, 7, 64), (1, 1, 1, 1)),  # odd sides: the last tile row and column are cropped
        ((1, 15, 16, 64), (0, 0, 0, 0)),  # VALID
        ((3, 8, 9, 64), (0, 1, 2, 0)),  # asymmetric padding
    ],
)
@pytest.mark.parametrize("threads", [1, 2])
def test_kernel_equals_the_definition(shape: tuple[int, ...], pads: tuple[int, int, int, int], threads: int) -> None:
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    w = (rng.standard_normal((80, shape[3], 3, 3)) / np.sqrt(9 * shape[3])).astype(np.float32)
    want = direct_conv(x, w, pads)
    with parallel.using(parallel.Workers(threads)):
        got = winograd_nhwc.conv3x3(x, winograd_nhwc.transform_weight(w.transpose(2, 3, 1, 0)), pads, None, None)
    assert got is not None and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_blocks_span_images_and_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small blocks cut across image boundaries and thread parts, each with its own halo rows; the
    kernel is transformed in several slices, the last one short."""
    monkeypatch.setattr(winograd_nhwc, "_TRANSFORM_SLICE", 1000)
    monkeypatch.setattr(winograd_nhwc, "MIN_BLOCK_TILES", 1)
    monkeypatch.setattr(winograd_nhwc, "BLOCK_ELEMENTS", 16 * 64 * 8)  # about 8 tiles a block
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 7, 9, 64)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32) / 24
    with parallel.using(parallel.Workers(2)):
        got = winograd_nhwc.conv3x3(
            x, winograd_nhwc.transform_weight(w.transpose(2, 3, 1, 0)), (1, 1, 1, 1), None, None
        )
    assert got is not None
    np.testing.assert_allclose(got, direct_conv(x, w, (1, 1, 1, 1)), rtol=1e-5, atol=1e-5)


def test_residual_and_epilogue_fused() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 10, 10, 64)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32) / 24
    res = rng.standard_normal((2, 10, 10, 64)).astype(np.float32)
    bias = rng.standard_normal(64).astype(np.float32)

    def post(y: np.ndarray) -> np.ndarray:
        y += bias
        return np.maximum(y, 0, out=y)

    g = ConvGeom(3, 3, 1, 1, mode="pad", pads=(1, 1, 1, 1))
    got = make_conv_nhwc(w, 1, g, post, residual=True)(x, w, res)
    want = np.maximum(direct_conv(x, w, (1, 1, 1, 1)) + res + bias, 0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_declines_where_im2col_is_faster(calls: list[bool]) -> None:
    rng = np.random.default_rng(5)
    g = ConvGeom(3, 3, 1, 1, mode="pad", pads=(1, 1, 1, 1))
    wide = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    # Too few tiles (a 7x7 map of one image: 16 tiles) takes im2col, with the same result.
    x = rng.standard_normal((1, 7, 7, 64)).astype(np.float32)
    np.testing.assert_allclose(make_conv_nhwc(wide, 1, g, None)(x), direct_conv(x, wide, g.pads), rtol=1e-5, atol=1e-4)
    assert calls == [False]
    # Narrow, strided, grouped, 5x5 and float16 convolutions never get a transformed weight.
    assert not winograd_nhwc.suits(wide[:16, :16], 1, g)
    assert not winograd_nhwc.suits(wide, 1, ConvGeom(3, 3, 2, 2))
    assert not winograd_nhwc.suits(wide, 2, g)
    assert not winograd_nhwc.suits(rng.standard_normal((64, 64, 5, 5)).astype(np.float32), 1, ConvGeom(5, 5, 1, 1))
    assert not winograd_nhwc.suits(wide.astype(np.float16), 1, g)
    assert winograd_nhwc.suits(wide, 1, g)
    # A static input too small for it (7x7: 16 tiles) keeps no transformed weight; a dynamic one does.
    assert not winograd_nhwc.suits(wide, 1, g, (1, 7, 7, 64))
    assert winograd_nhwc.suits(wide, 1, g, (-1, 7, 7, 64))
    assert winograd_nhwc.suits(wide, 1, g, (8, 7, 7, 64))
