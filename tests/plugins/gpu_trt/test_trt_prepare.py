"""The ONNX graph made ready for TensorRT: refusals named by primitive, opset, and fp16/bf16 casting.

Numbers for the cast graphs come from onnx's reference evaluator compared with what MindSpore
computed (the stored cases), at half-precision tolerances; TensorRT itself is not involved.
"""

from __future__ import annotations

from pathlib import Path

import mindinfer
import numpy as np
import onnx
import pytest
from mindinfer.errors import MindInferError, UnsupportedOpError
from mindinfer_onnx.convert import convert
from mindinfer_tensorrt._prepare import UNSUPPORTED_OPS, bf16_bits, check_for_tensorrt, origin, prepare
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator
from stored_cases import CASES, inputs, outputs

OP = CASES / "op"
MODEL = CASES / "model"


def _converted(folder: Path) -> tuple[mindinfer.Model, onnx.ModelProto]:
    model = mindinfer.load(folder / "model.mindir")
    return model, convert(model, 17)


def _graph(nodes: list, inputs: list, outputs: list, opset: int = 17, inits: list = ()) -> onnx.ModelProto:  # type: ignore[type-arg,assignment]
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name: str, t: int = TensorProto.FLOAT, shape: list | None = None) -> onnx.ValueInfoProto:  # type: ignore[type-arg]
    return helper.make_tensor_value_info(name, t, shape if shape is not None else [2, 3])


def test_a_double_intermediate_is_refused_naming_the_primitive() -> None:
    # The converter computes int32 floor division through float64 for exactness; TensorRT would
    # narrow that to float32 and change the result.
    model, proto = _converted(OP / "int32_floor_div")
    with pytest.raises(UnsupportedOpError) as err:
        check_for_tensorrt(proto, model)
    e = err.value
    assert e.primitive == "FloorDiv" and e.plugin == "tensorrt"
    assert e.node in {n.name for n in model.main.nodes}
    assert "DOUBLE" in str(e) and "narrows DOUBLE to FLOAT" in str(e)


def test_origin_maps_onnx_nodes_back_to_ir_nodes() -> None:
    model, proto = _converted(MODEL / "lenet5")
    ir_nodes = {n.name: n.op for n in model.main.nodes}
    mapped = 0
    for node in proto.graph.node:
        primitive, ir_node = origin(node.name, model)
        if node.op_type != "Identity":  # output identities belong to no IR node
            assert ir_nodes[ir_node] == primitive
            mapped += 1
    assert mapped >= len(model.main.nodes) // 2
    assert origin("not/from/the/converter", model) == ("", "not/from/the/converter")


@pytest.mark.parametrize("op", sorted(UNSUPPORTED_OPS & {"BitwiseAnd", "SequenceConstruct", "Unique", "Det"}))
def test_operators_the_parser_does_not_support(op: str) -> None:
    proto = _graph(
        [helper.make_node(op, ["x"], ["y"], name="Default/Net/Prim-op7/" + op + "_node")], [_vi("x")], [_vi("y")]
    )
    with pytest.raises(UnsupportedOpError, match=f"ONNX operator {op}, which TensorRT's ONNX parser does not support"):
        check_for_tensorrt(proto, None)


@pytest.mark.parametrize(
    ("node", "words"),
    [
        (helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=-1, sorted=0), "sorted=1 only"),
        (helper.make_node("MaxPool", ["x"], ["y", "idx"], kernel_shape=[1]), "Indices output"),
        (helper.make_node("Resize", ["x", "", "s"], ["y"], antialias=1), "antialiasing"),
        (helper.make_node("Resize", ["x", "", "s"], ["y"], mode="cubic"), "mode cubic"),
        (helper.make_node("LayerNormalization", ["x", "s"], ["y", "mean"]), "Mean/InvStdDev"),
        (helper.make_node("LSTM", ["x", "w", "r"], ["y"], input_forget=1), "input_forget or layout"),
        (helper.make_node("Loop", ["n", "c"], ["scan"], body=helper.make_graph([], "b", [], [])), "scan outputs"),
        (helper.make_node("Relu", ["x"], ["y"], domain="com.microsoft"), "com.microsoft::Relu"),
    ],
)
def test_restrictions_of_the_operator_matrix(node: onnx.NodeProto, words: str) -> None:
    node.name = "n0"
    proto = _graph([node], [_vi("x")], [_vi(node.output[0])])
    with pytest.raises(UnsupportedOpError, match="<onnx ") as err:
        check_for_tensorrt(proto, None)
    assert words in str(err.value)


def test_types_tensorrt_does_not_compute() -> None:
    to_u8 = [
        helper.make_node("Cast", ["x"], ["u"], to=TensorProto.UINT8, name="c1"),
        helper.make_node("Cast", ["u"], ["y"], to=TensorProto.FLOAT, name="c2"),
    ]
    with pytest.raises(UnsupportedOpError, match="UINT8 tensor.*only as a network input or output"):
        check_for_tensorrt(_graph(to_u8, [_vi("x")], [_vi("y")]), None)
    # UINT8 at the network's edge is fine.
    check_for_tensorrt(_graph(to_u8[:1], [_vi("x")], [_vi("u", TensorProto.UINT8)]), None)
    to_i16 = [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT16, name="c")]
    with pytest.raises(UnsupportedOpError, match="INT16"):
        check_for_tensorrt(_graph(to_i16, [_vi("x")], [_vi("y", TensorProto.INT16)]), None)
    with pytest.raises(UnsupportedOpError, match="DOUBLE"):
        check_for_tensorrt(_graph([], [_vi("x", TensorProto.DOUBLE)], [_vi("x", TensorProto.DOUBLE)]), None)


def test_opset_outside_what_the_parser_reads() -> None:
    relu = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    check_for_tensorrt(_graph(relu, [_vi("x")], [_vi("y")], opset=20), None, 10)
    with pytest.raises(MindInferError, match=r"opset 21 is outside what TensorRT 10.x parses \(9..20\)"):
        check_for_tensorrt(_graph(relu, [_vi("x")], [_vi("y")], opset=21), None, 10)
    check_for_tensorrt(_graph(relu, [_vi("x")], [_vi("y")], opset=21), None, 11)


def test_stored_cases_are_refused_only_for_exact_integer_division() -> None:
    refused = []
    for folder in sorted((OP).glob("*")) + sorted(MODEL.glob("*")):
        try:
            model, proto = _converted(folder)
        except UnsupportedOpError:  # the converter's own refusals are the onnx plugin's business
            continue
        try:
            check_for_tensorrt(proto, model)
        except UnsupportedOpError as exc:
            refused.append((folder.name, exc.primitive, str(exc)))
    # The converter divides integers exactly through float64, which TensorRT would narrow.
    assert ("int32_floor_div", "FloorDiv") in [r[:2] for r in refused]
    assert all("Div" in primitive and "DOUBLE" in why for _, primitive, why in refused), refused


# -- reduced precision ---------------------------------------------------------------------------
HALF_CASES = ["lenet5", "small_cnn_bn", "mlp_layernorm_gelu", "transformer_block", "branchy_if", "two_in_two_out"]


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
@pytest.mark.parametrize("case", HALF_CASES)
def test_reduced_precision_keeps_io_dtypes_and_matches_mindspore(case: str, precision: str) -> None:
    folder = MODEL / case
    model, proto = _converted(folder)
    low = TensorProto.FLOAT16 if precision == "fp16" else TensorProto.BFLOAT16
    prepared = prepare(proto, model, precision)
    onnx.checker.check_model(prepared, full_check=True)  # every operator's type constraints hold
    assert [v.type.tensor_type.elem_type for v in prepared.graph.input] == [
        v.type.tensor_type.elem_type for v in proto.graph.input
    ]
    assert [v.type.tensor_type.elem_type for v in prepared.graph.output] == [
        v.type.tensor_type.elem_type for v in proto.graph.output
    ]
    matrices = [t for t in prepared.graph.initializer if len(t.dims) >= 2]
    assert any(t.data_type == low for t in matrices)
    if precision == "fp16":
        assert all(t.data_type == low for t in matrices)
    else:  # ONNX opset 17 has no bfloat16 Conv: convolutions keep float32 weights and compute between casts
        conv_w = {n.input[1] for n in prepared.graph.node if n.op_type == "Conv"}
        assert all(t.data_type == (TensorProto.FLOAT if t.name in conv_w else low) for t in matrices)
    ref = ReferenceEvaluator(prepared)
    feeds = dict(zip([v.name for v in prepared.graph.input], inputs(folder)))
    got = ref.run(None, feeds)
    for g, want in zip(got, outputs(folder)):
        assert g.dtype == want.dtype
        scale = float(np.max(np.abs(want))) or 1.0
        tol = 2e-2 if precision == "fp16" else 8e-2
        assert float(np.max(np.abs(g - want))) <= tol * scale + 1e-3, case


def test_fp32_changes_nothing() -> None:
    model, proto = _converted(MODEL / "lenet5")
    same = prepare(proto, model, "fp32")
    assert same.SerializeToString() == proto.SerializeToString() and same is not proto


def test_resize_scales_stay_float32_unrounded() -> None:
    model, proto = _converted(OP / "resize_nearest_scale2")
    prepared = prepare(proto, model, "fp16")
    inits = {t.name: t for t in prepared.graph.initializer}
    for node in prepared.graph.node:
        if node.op_type == "Resize" and len(node.input) > 2 and node.input[2]:
            assert inits[node.input[2]].data_type == TensorProto.FLOAT
    onnx.checker.check_model(prepared, full_check=True)
    got = ReferenceEvaluator(prepared).run(
        None, dict(zip([v.name for v in prepared.graph.input], inputs(OP / "resize_nearest_scale2")))
    )
    assert got[0].shape == outputs(OP / "resize_nearest_scale2")[0].shape


def test_integer_graphs_are_untouched_by_half_precision() -> None:
    model, proto = _converted(OP / "cast_f32_to_int32")
    prepared = prepare(proto, model, "fp16")
    onnx.checker.check_model(prepared, full_check=True)
    got = ReferenceEvaluator(prepared).run(
        None, dict(zip([v.name for v in prepared.graph.input], inputs(OP / "cast_f32_to_int32")))
    )
    np.testing.assert_array_equal(got[0], outputs(OP / "cast_f32_to_int32")[0])


def test_bf16_rounding_is_to_nearest_even() -> None:
    x = np.array([1.0, 1.00390625, 1.01171875, -2.5, np.inf, np.nan, 3.0e38], np.float32)
    bits = bf16_bits(x)
    back = (bits.astype(np.uint32) << 16).view(np.float32)
    assert back[0] == 1.0 and back[1] == 1.0  # halfway: to even
    assert back[2] == np.float32(1.015625)  # halfway: up to even
    assert back[3] == -2.5 and np.isinf(back[4]) and np.isnan(back[5])
    assert abs(back[6] - 3.0e38) / 3.0e38 < 2**-8
