"""Whole mindcv networks from the zoo cache against MindSpore's own outputs (opt-in: ``-m zoo``)."""

from __future__ import annotations

from pathlib import Path

import mindinfer
import pytest
from cpu_cases import ZOO, inputs, outputs
from mindinfer.backend import Device
from mindinfer_cpu import CpuBackend
from zoo_check import check_outputs

ZOO_CASES = sorted(p for p in ZOO.glob("*/b*") if (p / "model.mindir").is_file()) if ZOO.is_dir() else []

pytestmark = pytest.mark.zoo


@pytest.mark.skipif(not ZOO_CASES, reason=f"no zoo networks in {ZOO} (make them with tools/make_zoo.py)")
@pytest.mark.parametrize("folder", ZOO_CASES, ids=[f"{p.parent.name}-{p.name}" for p in ZOO_CASES])
def test_zoo_network(folder: Path, backend: CpuBackend, device: Device) -> None:
    exe = backend.compile(mindinfer.load(folder / "model.mindir"), device, {"threads": 2})
    got = exe.run(inputs(folder))
    check_outputs(got, outputs(folder), str(folder))
