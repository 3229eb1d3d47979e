"""The tolerance policy: exact for integers and bools, tight for float32, looser with a cosine
floor for float16 and reduced-precision modes; failures say how wrong, where, and which output."""

from __future__ import annotations

import numpy as np
import pytest
from mindinfer_conformance.compare import compare, compare_outputs, network_tolerance, tolerance_for


def test_integers_and_bools_must_match_exactly() -> None:
    exp = np.array([[1, 2], [3, 4]], dtype=np.int32)
    tol = tolerance_for(exp.dtype, 1e-4, 1e-5)
    assert tol.exact
    assert compare(exp.copy(), exp, tol).ok
    off = exp.copy()
    off[1, 0] = 5
    res = compare(off, exp, tol, output=2)
    assert not res.ok and res.mismatched == 1 and res.where == (1, 0)
    assert "output 2" in res.message and "exact" in res.message
    flags = np.array([True, False])
    assert not compare(~flags, flags, tolerance_for(flags.dtype, 1.0, 1.0)).ok


def test_float32_uses_the_case_tolerance_and_reports_the_worst_element() -> None:
    exp = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    tol = tolerance_for(np.float32, 1e-4, 1e-5)
    assert not tol.exact and tol.cosine_min is None
    assert compare(exp + np.float32(5e-6), exp, tol).ok
    act = exp.copy()
    act[2, 1] += np.float32(1e-2)
    res = compare(act, exp, tol, output=1)
    assert not res.ok
    assert res.where == (2, 1) and res.output == 1
    assert res.worst_abs == pytest.approx(1e-2, rel=1e-3)
    assert res.mismatched == 1
    assert "worst abs error 0.01" in res.message and "[2, 1]" in res.message and "output 1" in res.message


def test_float16_and_reduced_precision_are_looser_but_check_cosine() -> None:
    rng = np.random.default_rng(0)
    exp32 = rng.standard_normal(256).astype(np.float32)
    strict = tolerance_for(np.float32, 1e-4, 1e-5)
    fp16 = tolerance_for(np.float32, 1e-4, 1e-5, precision="fp16")
    assert fp16.rtol > strict.rtol and fp16.cosine_min is not None
    rounded = exp32.astype(np.float16).astype(np.float32)
    assert not compare(rounded, exp32, strict).ok  # fp16 rounding breaks the float32 bound...
    assert compare(rounded, exp32, fp16).ok  # ...but is fine in fp16 mode
    exp16 = exp32.astype(np.float16)
    half = tolerance_for(np.float16, 1e-4, 1e-5)
    assert half.cosine_min is not None and half.rtol >= 1e-2
    # A sign flip of one large element keeps most elements close but is caught.
    bad = exp16.copy()
    bad[int(np.argmax(np.abs(bad)))] *= -1
    res = compare(bad, exp16, half)
    assert not res.ok and res.cosine is not None and res.cosine < 1.0


def test_cosine_floor_alone_fails_a_reduced_precision_output() -> None:
    exp = np.ones(100, dtype=np.float32)
    act = exp + np.float32(0.5) * np.sign(np.sin(np.arange(100))).astype(np.float32)
    tol = tolerance_for(np.float32, 10.0, 10.0, precision="bf16")  # huge element bounds
    res = compare(act, exp, tol)
    assert res.mismatched == 0 and res.cosine is not None and res.cosine < tol.cosine_min  # type: ignore[operator]
    assert not res.ok and "below the floor" in res.message


def test_nan_inf_shape_and_dtype_problems_fail() -> None:
    tol = tolerance_for(np.float32, 1e-4, 1e-5)
    exp = np.array([1.0, np.nan, np.inf], dtype=np.float32)
    assert compare(exp.copy(), exp, tol).ok
    assert not compare(np.array([1.0, 0.0, np.inf], dtype=np.float32), exp, tol).ok
    assert not compare(np.array([1.0, np.nan, -np.inf], dtype=np.float32), exp, tol).ok
    res = compare(np.zeros((2, 2), np.float32), np.zeros((4,), np.float32), tol)
    assert not res.ok and "shape [2, 2], expected [4]" in res.message
    res = compare(np.zeros(3, np.float64), np.zeros(3, np.float32), tol)
    assert not res.ok and "dtype float64" in res.message


def test_missing_output_is_reported() -> None:
    exp = [np.zeros(2, np.float32), np.zeros(3, np.float32)]
    tols = [tolerance_for(np.float32, 1e-4, 1e-5)] * 2
    res = compare_outputs([np.zeros(2, np.float32)], exp, tols)
    assert any(not r.ok and "returned 1 output(s), expected 2" in r.message for r in res)


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown precision"):
        tolerance_for(np.float32, 1e-4, 1e-5, precision="fp8")


def test_network_criterion_bounds_the_whole_tensor_by_its_largest_value() -> None:
    exp = np.array([100.0, 0.01, -3.0], np.float32)
    tol = network_tolerance(np.float32)
    # 0.05 off on a 0.01 element: far outside an element-wise bound, inside 1e-4 + 1e-3 * 100.
    near = exp + np.array([0.0, 0.05, 0.0], np.float32)
    assert not compare(near, exp, tolerance_for(np.float32, 1e-3, 1e-4)).ok
    assert compare(near, exp, tol).ok
    # Past the bound (0.2 > 0.1001) fails, and so does a cosine below 0.99999 within the bound.
    res = compare(exp + np.array([0.0, 0.2, 0.0], np.float32), exp, tol)
    assert not res.ok and "max|expected|" in res.message
    small = np.full(1000, 1e-3, np.float32)
    small[0] = 1.0
    flipped = small.copy()
    flipped[1:] = -flipped[1:]
    res = compare(flipped, small, tol)
    assert not res.ok and "below the floor" in res.message
    # Integer outputs of a network stay exact.
    assert network_tolerance(np.int64).exact
