"""The model corpus: each case converts, passes onnx's full check, and runs in onnxruntime with
MindSpore's outputs (rtol 1e-4, atol 1e-5)."""

from __future__ import annotations

from pathlib import Path

import mindinfer
import numpy as np
import onnx
import pytest
from mindinfer_onnx import convert
from onnx_cases import MODEL_CASES, assert_matches, inputs, op_types, ort_run, outputs

RTOL, ATOL = 1e-4, 1e-5


@pytest.mark.parametrize("opset", [13, 17, 21])
@pytest.mark.parametrize("folder", MODEL_CASES, ids=[p.name for p in MODEL_CASES])
def test_model_case(folder: Path, opset: int) -> None:
    proto = convert(mindinfer.load(folder / "model.mindir"), opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == opset
    assert_matches(ort_run(proto, inputs(folder)), outputs(folder), RTOL, ATOL, folder.name)


def _case(name: str) -> Path:
    folder = next((p for p in MODEL_CASES if p.name == name), None)
    if folder is None:
        pytest.skip(f"corpus case {name} is missing")
    return folder


def test_branchy_if_becomes_onnx_if() -> None:
    proto = convert(mindinfer.load(_case("branchy_if") / "model.mindir"))
    assert "If" in op_types(proto)
    assert not {"Switch", "Partial", "Call"} & op_types(proto)


def test_dynamic_batch_keeps_a_named_dim_and_runs_at_several_batch_sizes() -> None:
    folder = _case("small_cnn_dynamic_batch")
    proto = convert(mindinfer.load(folder / "model.mindir"))
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == "batch" and not dim0.HasField("dim_value")
    (x,), (want,) = inputs(folder), outputs(folder)
    assert x.shape[0] == 2
    # Batches made of the stored rows: each output row depends only on its input row.
    for rows in ([0], [1], [0, 1], [1, 0, 1, 0, 0]):
        (got,) = ort_run(proto, [x[rows]])
        np.testing.assert_allclose(got, want[rows], rtol=RTOL, atol=ATOL, err_msg=f"batch rows {rows}")


def test_static_input_dims_stay_static() -> None:
    proto = convert(mindinfer.load(_case("lenet5") / "model.mindir"))
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 1, 32, 32]
