"""The NCHW kernels the layout pass normally replaces still give MindSpore's answers."""

from __future__ import annotations

from pathlib import Path

import mindinfer
import pytest
from cpu_cases import assert_matches, case_dirs, inputs, meta, outputs, tolerances
from mindinfer.backend import Device
from mindinfer_cpu import CpuBackend

SPATIAL = {"Conv2D", "MaxPool", "AvgPool"}
CASES = [d for d in case_dirs("op") + case_dirs("model") if SPATIAL & set(meta(d).get("primitives", []))]
CASES += [d for d in case_dirs("model") if d.name in ("lenet5", "small_cnn_bn") and d not in CASES]


@pytest.mark.parametrize("folder", CASES, ids=[p.name for p in CASES])
def test_nchw_kernels(folder: Path, backend: CpuBackend, device: Device, monkeypatch: pytest.MonkeyPatch) -> None:
    import mindinfer_cpu.passes

    monkeypatch.setattr(mindinfer_cpu.passes, "assign_layouts", lambda wg: None)
    exe = backend.compile(mindinfer.load(folder / "model.mindir"), device, {})
    assert not any(s.op.startswith("cpu.To") for s in exe.program.main.steps)
    info = meta(folder)
    for i, (g, w) in enumerate(zip(exe.run(inputs(folder)), outputs(folder))):
        r, a = tolerances(info, i)
        assert_matches(g, w, r, a, f"{folder.name} output {i} (NCHW kernels)")
