"""Converter behaviour on hand-built graphs: refusals, control-flow shapes it cannot express,
opsets, the file writer (external data) and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from mindinfer.errors import MindInferError, UnsupportedOpError
from mindinfer.ir import Const, Graph, GraphRef, Model, Node, Parameter, Ref, TensorSpec
from mindinfer_onnx import convert, convert_file
from mindinfer_onnx.convert import save
from onnx_cases import MODEL_CASES, assert_matches, inputs, ort_run, outputs


def _spec(name: str, shape: tuple[int, ...] = (2, 3), dtype: str = "float32") -> TensorSpec:
    return TensorSpec(name, shape, dtype)


def _model(nodes: list[Node], out: str, functions: dict[str, Graph] | None = None) -> Model:
    main = Graph("main", [_spec("x")], [Ref(out)], nodes, output_specs=[_spec("y")])
    return Model(main, functions or {})


def test_unknown_primitive_is_refused_by_name() -> None:
    model = _model([Node("n1", "FancyNewOp", [Ref("x")], ["y1"], out_specs=[_spec("y1")])], "y1")
    with pytest.raises(UnsupportedOpError, match="FancyNewOp") as info:
        convert(model)
    assert info.value.primitive == "FancyNewOp" and info.value.node == "n1" and info.value.plugin == "onnx"


def test_every_unsupported_primitive_is_named() -> None:
    nodes = [
        Node("n1", "FancyNewOp", [Ref("x")], ["a"], out_specs=[_spec("a")]),
        Node("n2", "OtherNewOp", [Ref("a")], ["b"], out_specs=[_spec("b")]),
    ]
    with pytest.raises(UnsupportedOpError, match="also unsupported: OtherNewOp"):
        convert(_model(nodes, "b"))


def test_a_form_without_exact_lowering_is_refused_not_approximated() -> None:
    # BatchNorm in training mode normalizes with batch statistics: no inference-mode stand-in.
    params = {n: Parameter(_spec(n, (3,)), np.ones(3, np.float32)) for n in ("g", "b", "m", "v")}
    node = Node(
        "bn",
        "BatchNorm",
        [Ref("x"), Ref("g"), Ref("b"), Ref("m"), Ref("v"), Const(True), Const(1e-5), Const(0.1), Const(0)],
        ["y1"],
        out_specs=[_spec("y1")],
    )
    model = _model([node], "y1")
    model.main.params = params
    with pytest.raises(UnsupportedOpError, match="training mode"):
        convert(model)


def test_reading_an_output_that_is_not_lowered_is_refused() -> None:
    # LayerNorm's mean/rstd outputs are not produced; a graph that uses one must not convert.
    params = {n: Parameter(_spec(n, (3,)), np.ones(3, np.float32)) for n in ("g", "b")}
    ln = Node(
        "ln",
        "LayerNorm",
        [Ref("x"), Ref("g"), Ref("b"), Const(-1), Const(-1), Const(1e-7)],
        ["y", "mean", "rstd"],
        out_specs=[_spec("y"), _spec("mean", (2, 1)), _spec("rstd", (2, 1))],
    )
    model = _model([ln, Node("add", "Add", [Ref("y"), Ref("mean")], ["z"], out_specs=[_spec("z")])], "z")
    model.main.params = params
    with pytest.raises(UnsupportedOpError, match="mean"):
        convert(model)


def test_recursion_that_is_not_a_while_loop_is_refused() -> None:
    # f(x) = f(x + 1): recursive, but no Switch choosing between looping and returning.
    body = Graph(
        "f",
        [_spec("a")],
        [Ref("r")],
        [
            Node("inc", "Add", [Ref("a"), Const(np.float32(1))], ["a1"], out_specs=[_spec("a1")]),
            Node("rec", "Call", [Const(GraphRef("f")), Ref("a1")], ["r"], out_specs=[_spec("r")]),
        ],
        output_specs=[_spec("r")],
    )
    model = _model(
        [Node("call", "Call", [Const(GraphRef("f")), Ref("x")], ["y1"], out_specs=[_spec("y1")])], "y1", {"f": body}
    )
    with pytest.raises(UnsupportedOpError, match="not a while loop|does not end"):
        convert(model)


def test_plain_function_calls_are_inlined() -> None:
    double = Graph(
        "double",
        [_spec("a")],
        [Ref("d")],
        [
            Node("mul", "Mul", [Ref("a"), Const(np.float32(2))], ["d"], out_specs=[_spec("d")]),
        ],
        output_specs=[_spec("d")],
    )
    model = _model(
        [Node("call", "Call", [Const(GraphRef("double")), Ref("x")], ["y1"], out_specs=[_spec("y1")])],
        "y1",
        {"double": double},
    )
    proto = convert(model)
    onnx.checker.check_model(proto, full_check=True)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (got,) = ort_run(proto, [x])
    np.testing.assert_array_equal(got, x * 2)  # exact by construction: x * 2.0 in float32


def test_opset_outside_the_supported_range_is_refused() -> None:
    with pytest.raises(MindInferError, match="opset 9"):
        convert(_model([Node("r", "ReLU", [Ref("x")], ["y1"], out_specs=[_spec("y1")])], "y1"), opset=9)


def test_convert_file_writes_a_checked_model(tmp_path: Path) -> None:
    folder = MODEL_CASES[0]
    dst = convert_file(folder / "model.mindir", tmp_path / "m.onnx")
    proto = onnx.load(str(dst))
    assert_matches(ort_run(proto, inputs(folder)), outputs(folder), 1e-4, 1e-5, folder.name)


def test_external_data_file_is_written_and_runs(tmp_path: Path) -> None:
    # The > 2 GB path, forced on a small model: weights go to <name>.data, the .onnx stays small.
    folder = next(p for p in MODEL_CASES if p.name == "transformer_block")
    dst = convert_file(folder / "model.mindir", tmp_path / "t.onnx", external_data=True)
    data = tmp_path / "t.onnx.data"
    assert data.is_file() and data.stat().st_size > dst.stat().st_size
    proto = onnx.load(str(dst))  # loads the external data back
    assert_matches(ort_run(proto, inputs(folder)), outputs(folder), 1e-4, 1e-5, folder.name)
    # Writing again replaces the data file rather than appending to it.
    size = data.stat().st_size
    save(proto, dst, external_data=True)
    assert data.stat().st_size == size


def test_cli_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mindinfer.cli import main

    folder = next(p for p in MODEL_CASES if p.name == "two_in_two_out")
    dst = tmp_path / "two.onnx"
    assert main(["convert", str(folder / "model.mindir"), "-o", str(dst), "--opset", "18"]) == 0
    assert "wrote" in capsys.readouterr().out
    proto = onnx.load(str(dst))
    assert proto.opset_import[0].version == 18
    assert_matches(ort_run(proto, inputs(folder)), outputs(folder), 1e-4, 1e-5, folder.name)


def test_cli_convert_missing_file_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mindinfer.cli import main

    assert main(["convert", str(tmp_path / "nope.mindir")]) != 0
    err = capsys.readouterr().err
    assert "nope.mindir" in err and "Traceback" not in err
