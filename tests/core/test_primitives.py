"""Core's primitive signature table and the typed argument view on nodes."""

from __future__ import annotations

from pathlib import Path

import mindinfer
import numpy as np
import pytest
from mindinfer import primitives
from mindinfer.errors import ArgumentError
from mindinfer.ir import Const, Node, Ref
from mindinfer.primitives import RUNTIME, signature

CASES = Path(__file__).resolve().parents[2] / "conformance" / "mindinfer_conformance" / "cases"


def _node(op: str, inputs: list, attrs: dict | None = None) -> Node:
    return Node("n1", op, inputs, ["y"], attrs or {})


def test_an_argument_reads_the_same_from_an_attribute_and_from_a_constant_input() -> None:
    attrs = _node("LayerNorm", [Ref("x"), Ref("g"), Ref("b")], {"begin_norm_axis": -1, "epsilon": 1e-5})
    inputs = _node("LayerNorm", [Ref("x"), Ref("g"), Ref("b"), Const(-1), Const(1), Const(1e-5)])
    for node in (attrs, inputs):
        assert node.arg("begin_norm_axis") == -1
        assert node.arg("epsilon") == 1e-5
    assert attrs.arg("begin_params_axis") == 1  # MindSpore's default, from the table
    assert inputs.arg("gamma") is RUNTIME


def test_enum_codes_and_strings_decode_to_one_spelling() -> None:
    by_code = _node("AvgPool", [Ref("x"), Const((1, 1, 2, 2)), Const((1, 1, 2, 2)), Const(1), Const(1)])
    by_name = _node("MaxPool", [Ref("x")], {"pad_mode": "SAME", "format": "NHWC", "kernel_size": (1, 1, 2, 2)})
    for node in (by_code, by_name):
        assert node.arg("pad_mode") == "same"
        assert node.arg("data_format") == "NHWC"
        assert node.arg("kernel_size") == (2, 2)
    assert _node("GeluExt", [Ref("x"), Const(1)]).arg("approximate") == "tanh"
    assert _node("Cast", [Ref("x"), Const(43)]).arg("dtype") == np.dtype("float32")
    nd = _node("BatchNorm", [Ref(n) for n in "xsbmv"] + [Const(False), Const(1e-3), Const(0.1), Const(20)])
    assert nd.arg("data_format") == "ND"  # the code one plugin knew and the other did not


def test_a_code_mindspore_does_not_define_is_an_error_not_a_guess() -> None:
    node = _node("AvgPool", [Ref("x"), Const(1), Const(1), Const(7), Const(0)])
    with pytest.raises(ArgumentError, match=r"pad_mode code 7 is not one MindSpore defines"):
        node.arg("pad_mode")


def test_conv2d_window_arguments_decode_to_pairs_and_pad_to_four_sides() -> None:
    node = _node(
        "Conv2D",
        [Ref("x"), Ref("w")],
        {"kernel_size": (3, 3), "stride": (1, 1, 2, 2), "dilation": 1, "pad": 1, "pad_mode": "pad", "groups": 2},
    )
    assert node.arg("stride") == (2, 2)
    assert node.arg("dilation") == (1, 1)
    assert node.arg("pad") == (1, 1, 1, 1)
    assert node.arg("group") == 2  # 1.x writes it as "group" and "groups"; either is read
    assert node.arg("data_format") == "NCHW"


def test_unknown_primitive_unknown_argument_and_absent_required_argument_are_explicit() -> None:
    assert signature("NoSuchPrimitive") is None
    assert _node("NoSuchPrimitive", [Ref("x")]).signature is None
    with pytest.raises(ArgumentError, match="core has no signature"):
        _node("NoSuchPrimitive", [Ref("x")]).arg("x")
    with pytest.raises(ArgumentError, match="no argument 'eps'.*epsilon"):
        _node("LayerNorm", [Ref("x"), Ref("g"), Ref("b")]).arg("eps")
    with pytest.raises(ArgumentError, match="required argument 'shape'"):
        _node("Reshape", [Ref("x")]).arg("shape")


def test_a_backend_passes_what_it_knows_at_compile_time() -> None:
    node = _node("Reshape", [Ref("x"), Ref("s")])
    assert node.arg("shape") is RUNTIME
    assert node.arg("shape", known=[RUNTIME, (2, 3)]) == (2, 3)


def test_every_node_of_every_stored_case_reads_every_argument() -> None:
    """The table covers every primitive the cases use, in the form each export wrote it."""
    nodes = 0
    for path in sorted(CASES.glob("*/*/model.mindir")):
        model = mindinfer.load(path)
        for graph in model.graphs:
            for node in graph.nodes:
                if node.op in mindinfer.ir.CONTROL_FLOW_OPS:
                    continue
                args = node.args()
                assert set(args) == set(node.signature.names)  # type: ignore[union-attr]
                nodes += 1
    assert nodes > 1000


def test_the_table_covers_every_primitive_the_bundled_backends_declare() -> None:
    from mindinfer_cpu import CpuBackend
    from mindinfer_onnx.backend import OnnxBackend

    declared = CpuBackend.capabilities.primitives | OnnxBackend.capabilities.primitives
    assert declared - primitives.known_primitives() == set()
