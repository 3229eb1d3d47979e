"""Every op-level case exported by MindSpore: converted, checked and run in onnxruntime, with the
case's own tolerance; primitives the converter does not lower must raise UnsupportedOpError."""

from __future__ import annotations

from pathlib import Path

import mindinfer
import onnx
import pytest
from mindinfer.errors import UnsupportedOpError
from mindinfer_onnx import SUPPORTED, convert
from onnx_cases import OP_CASES, assert_matches, inputs, op_types, ort_run, outputs, tolerance


@pytest.mark.parametrize("folder", OP_CASES, ids=[p.name for p in OP_CASES])
def test_op_case(folder: Path) -> None:
    model = mindinfer.load(folder / "model.mindir")
    missing = sorted(set(model.primitive_histogram()) - SUPPORTED)
    if missing:
        with pytest.raises(UnsupportedOpError, match=missing[0]):
            convert(model)
        return
    proto = convert(model)
    onnx.checker.check_model(proto, full_check=True)
    rtol, atol = tolerance(folder)
    assert_matches(ort_run(proto, inputs(folder)), outputs(folder), rtol, atol, folder.name)


@pytest.mark.parametrize("name", ["cf_while_counter", "cf_while_tensor_trip", "cf_nested_if_in_while"])
def test_while_loops_become_onnx_loop(name: str) -> None:
    folder = next((p for p in OP_CASES if p.name == name), None)
    if folder is None:
        pytest.skip(f"op case {name} is missing")
    ops = op_types(convert(mindinfer.load(folder / "model.mindir")))
    assert "Loop" in ops
    assert not {"Switch", "Partial", "Call"} & ops
