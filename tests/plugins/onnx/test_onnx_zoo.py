"""Whole mindcv networks from the zoo cache, converted and run in onnxruntime, against MindSpore's
own outputs (opt-in: ``-m zoo``). Includes the networks ``mindspore.onnx.export`` fails on."""

from __future__ import annotations

from pathlib import Path

import mindinfer
import numpy as np
import onnx
import pytest
from mindinfer_onnx import convert
from onnx_cases import ZOO, case_json, inputs, ort_run, outputs

ZOO_CASES = sorted(p for p in ZOO.glob("*/b*") if (p / "model.mindir").is_file()) if ZOO.is_dir() else []

pytestmark = pytest.mark.zoo


@pytest.mark.skipif(not ZOO_CASES, reason=f"no zoo networks in {ZOO} (make them with tools/make_zoo.py)")
@pytest.mark.parametrize("folder", ZOO_CASES, ids=[f"{p.parent.name}-{p.name}" for p in ZOO_CASES])
def test_zoo_network(folder: Path) -> None:
    proto = convert(mindinfer.load(folder / "model.mindir"))
    onnx.checker.check_model(proto, full_check=True)
    got = ort_run(proto, inputs(folder), threads=2)
    want = outputs(folder)
    assert len(got) == len(want)
    export = case_json(folder).get("onnx_export", "")
    for i, (g, w) in enumerate(zip(got, want)):
        g64, w64 = np.asarray(g, np.float64).ravel(), np.asarray(w, np.float64).ravel()
        cos = float(g64 @ w64 / (np.linalg.norm(g64) * np.linalg.norm(w64) + 1e-30))
        worst = float(np.max(np.abs(g64 - w64)))
        where = f"{folder} (mindspore.onnx.export: {export or 'not recorded'})"
        assert np.allclose(g64, w64, rtol=1e-3, atol=1e-4), f"{where}: output {i} max abs diff {worst:.3g}"
        assert cos >= 0.9999, f"{where}: output {i} cosine similarity {cos:.6f}"
