"""NaN and infinity: the cpu and onnx plugins agree on every special-value case, and no numpy
RuntimeWarning reaches the user (README, "NaN and infinity")."""

from __future__ import annotations

import warnings
from pathlib import Path

import mindinfer
import numpy as np
import pytest
from cpu_cases import CASES, inputs, outputs
from mindinfer.ir import Const, Graph, Model, Node, Parameter, Ref, TensorSpec

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


def _zero_division_model(folded: bool) -> Model:
    """log(w), w % w and a scatter dividing by zero, added to x: w is a zero parameter (``folded``, so
    constant folding computes all three at compile time) or the second input (computed by the run)."""
    spec = TensorSpec("w", (4,), "float32")
    zeros = np.zeros(4, np.float32)
    params = {"w": Parameter(spec, zeros)} if folded else {}
    f4 = {n: TensorSpec(n, (4,), "float32") for n in ("lw", "mw", "sw", "a", "b", "y")}
    idx = Const(np.array([[1], [2]], np.int32))
    nodes = [
        Node("log", "Log", [Ref("w")], ["lw"], out_specs=[f4["lw"]]),
        Node("mod", "RemainderTensorTensor", [Ref("w"), Ref("w")], ["mw"], out_specs=[f4["mw"]]),
        Node("div", "TensorScatterDiv", [Ref("w"), idx, Const(zeros[:2])], ["sw"], out_specs=[f4["sw"]]),
        Node("add1", "Add", [Ref("lw"), Ref("mw")], ["a"], out_specs=[f4["a"]]),
        Node("add2", "Add", [Ref("a"), Ref("sw")], ["b"], out_specs=[f4["b"]]),
        Node("out", "Add", [Ref("x"), Ref("b")], ["y"], out_specs=[f4["y"]]),
    ]
    x = TensorSpec("x", (4,), "float32")
    ins = [x] if folded else [x, spec]
    return Model(Graph("main", ins, [Ref("y")], nodes, params=params, output_specs=[f4["y"]]))


@pytest.mark.parametrize("folded", [True, False], ids=["folded at compile time", "computed by the run"])
@pytest.mark.parametrize("target", ["cpu@cpu", "cpu@onnx"])
def test_nan_from_zero_divisions_warns_neither_at_compile_nor_at_run_time(folded: bool, target: str) -> None:
    model = _zero_division_model(folded)
    x = np.ones(4, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with mindinfer.Session(model, target=target) as sess:
            if target == "cpu@cpu" and folded:
                assert [s.op for s in sess._exe.program.main.steps] == ["Add"]  # the rest was folded
            (y,) = sess.run([x] if folded else [x, np.zeros(4, np.float32)])
    assert np.isnan(y).all()  # log(0) + 0 % 0 = -inf + nan; 0 / 0 in the scatter
