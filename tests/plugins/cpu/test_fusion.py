"""Epilogue fusion (BiasAdd, BatchNorm, activation into Conv2D/MatMul) reads every argument as the kernels
do: whether the export passed it as an input (MindSpore 2.x) or as a primitive attribute (1.x)."""

from __future__ import annotations

import mindinfer
import pytest
from cpu_cases import CASES, assert_matches, inputs, meta, outputs, tolerances
from mindinfer.backend import Device
from mindinfer.ir import Const, Model
from mindinfer_cpu import CpuBackend

#: MindSpore exports whose BatchNorm has epsilon 0.5 (far from the default 1e-5), after Conv2D + BiasAdd
#: and after MatMul(transpose_b=True) + BiasAdd; and two resnet blocks (BatchNorm, ``out += identity``
#: as InplaceAddExt(x, y, alpha=1), ReLU).
FUSED = ("batchnorm_after_conv_eps05", "batchnorm_after_dense_eps05", "resnet_basic_blocks")
#: The nodes whose constant arguments move into attributes for the 1.x form.
REWRITTEN = ("Conv2D", "MatMul", "BiasAdd", "BatchNorm", "InplaceAddExt")
#: What fusion leaves no step of.
FOLDED = ("BatchNorm", "BiasAdd", "ReLU", "InplaceAddExt")


def as_attributes(model: Model) -> Model:
    """The same model in MindSpore 1.x form: trailing constant arguments become primitive attributes
    (decoded: ``"NCHW"``, not the 2.x enum code). Every argument reads back the same through node.arg."""
    for graph in model.graphs:
        for node in graph.nodes:
            if node.op not in REWRITTEN:
                continue
            before = node.args()
            while node.inputs and isinstance(node.inputs[-1], Const):
                param = node.signature.at(len(node.inputs) - 1)  # type: ignore[union-attr]
                assert param is not None and param.attrs, f"{node.op} input {len(node.inputs) - 1} has no attribute"
                node.attrs[param.attrs[-1]] = node.arg(param.name)
                node.inputs = node.inputs[:-1]
            assert node.args() == before, node.name
    return model


def _load(case: str, form: str) -> Model:
    model = mindinfer.load(CASES / "op" / case / "model.mindir")
    return as_attributes(model) if form == "1.x attributes" else model


@pytest.mark.parametrize("form", ["2.x inputs", "1.x attributes"])
@pytest.mark.parametrize("case", FUSED)
def test_fused_epilogue_matches_mindspore_in_either_argument_form(
    case: str, form: str, backend: CpuBackend, device: Device
) -> None:
    model = _load(case, form)
    if form == "1.x attributes":
        bn = next(n for n in model.main.nodes if n.op == "BatchNorm")
        assert len(bn.inputs) == 5 and bn.arg("epsilon") == bn.attrs["epsilon"]
        if case.endswith("eps05"):
            assert bn.attrs["epsilon"] == pytest.approx(0.5)
    exe = backend.compile(model, device, {})
    ops = [s.op for s in exe.program.main.steps]
    assert not set(FOLDED) & set(ops), ops  # all folded into the convolutions / matrix products
    folder = CASES / "op" / case
    info = meta(folder)
    for i, (got, want) in enumerate(zip(exe.run(inputs(folder)), outputs(folder), strict=True)):
        assert_matches(got, want, *tolerances(info, i), f"{case} ({form}) output {i}")


@pytest.mark.parametrize("case", FUSED)
def test_the_onnx_plugin_reads_the_1x_form_alike(case: str) -> None:
    """Secondary: the other plugin, on the same 1.x-form model, also gives MindSpore's answer."""
    pytest.importorskip("mindinfer_onnx")
    folder = CASES / "op" / case
    info = meta(folder)
    with mindinfer.Session(_load(case, "1.x attributes"), target="cpu@onnx") as sess:
        for i, (got, want) in enumerate(zip(sess.run(inputs(folder)), outputs(folder), strict=True)):
            assert_matches(got, want, *tolerances(info, i), f"{case} (1.x attributes, cpu@onnx) output {i}")
