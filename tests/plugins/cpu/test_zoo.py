"""Whole mindcv networks from the zoo cache against MindSpore's own outputs (opt-in: ``-m zoo``)."""

from __future__ import annotations

from pathlib import Path

import mindinfer
import numpy as np
import pytest
from cpu_cases import ZOO, inputs, outputs
from mindinfer.backend import Device
from mindinfer_cpu import CpuBackend

ZOO_CASES = sorted(p for p in ZOO.glob("*/b*") if (p / "model.mindir").is_file()) if ZOO.is_dir() else []

pytestmark = pytest.mark.zoo


@pytest.mark.skipif(not ZOO_CASES, reason=f"no zoo networks in {ZOO} (make them with tools/make_zoo.py)")
@pytest.mark.parametrize("folder", ZOO_CASES, ids=[f"{p.parent.name}-{p.name}" for p in ZOO_CASES])
def test_zoo_network(folder: Path, backend: CpuBackend, device: Device) -> None:
    exe = backend.compile(mindinfer.load(folder / "model.mindir"), device, {"threads": 2})
    got = exe.run(inputs(folder))
    for i, (g, w) in enumerate(zip(got, outputs(folder))):
        g64, w64 = np.asarray(g, np.float64).ravel(), np.asarray(w, np.float64).ravel()
        cos = float(g64 @ w64 / (np.linalg.norm(g64) * np.linalg.norm(w64) + 1e-30))
        worst = float(np.max(np.abs(g64 - w64)))
        assert np.allclose(g64, w64, rtol=1e-3, atol=1e-4), f"{folder}: output {i} max abs diff {worst:.3g}"
        assert cos >= 0.9999, f"{folder}: output {i} cosine similarity {cos:.6f}"
