"""NaN and infinity: the cpu and onnx plugins agree on every special-value case, and no numpy
RuntimeWarning reaches the user (README, "NaN and infinity")."""

from __future__ import annotations

import warnings
from pathlib import Path

import mindinfer
import numpy as np
import pytest
from cpu_cases import CASES, inputs, outputs

SPECIAL = sorted((CASES / "op").glob("special_*"))


@pytest.mark.parametrize("folder", SPECIAL, ids=[p.name for p in SPECIAL])
def test_both_plugins_agree_without_warnings(folder: Path) -> None:
    got = {}
    for target in ("cpu@cpu", "cpu@onnx"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            with mindinfer.Session(folder / "model.mindir", target=target, options={"threads": 2}) as sess:
                got[target] = sess.run(inputs(folder))
    for a, b, want in zip(got["cpu@cpu"], got["cpu@onnx"], outputs(folder)):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
        np.testing.assert_allclose(a, want, rtol=1e-4, atol=1e-5, equal_nan=True)


def test_special_cases_are_present() -> None:
    assert len(SPECIAL) >= 7
