"""Whole mindcv networks from the zoo cache, converted and run in onnxruntime, against MindSpore's
own outputs (opt-in: ``-m zoo``). Includes the networks ``mindspore.onnx.export`` fails on."""

from __future__ import annotations

from pathlib import Path

import mindinfer
import onnx
import pytest
from mindinfer_onnx import convert
from onnx_cases import ZOO, case_json, inputs, ort_run, outputs
from zoo_check import check_outputs

ZOO_CASES = sorted(p for p in ZOO.glob("*/b*") if (p / "model.mindir").is_file()) if ZOO.is_dir() else []

pytestmark = pytest.mark.zoo


@pytest.mark.skipif(not ZOO_CASES, reason=f"no zoo networks in {ZOO} (make them with tools/make_zoo.py)")
@pytest.mark.parametrize("folder", ZOO_CASES, ids=[f"{p.parent.name}-{p.name}" for p in ZOO_CASES])
def test_zoo_network(folder: Path) -> None:
    proto = convert(mindinfer.load(folder / "model.mindir"))
    onnx.checker.check_model(proto, full_check=True)
    got = ort_run(proto, inputs(folder), threads=2)
    export = case_json(folder).get("onnx_export", "")
    check_outputs(got, outputs(folder), f"{folder} (mindspore.onnx.export: {export or 'not recorded'})")
