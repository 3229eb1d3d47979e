"""Every stored case (the seed corpus and the op cases) against MindSpore's own outputs."""

from __future__ import annotations

from pathlib import Path

import mindinfer
import pytest
from cpu_cases import assert_matches, case_dirs, inputs, meta, outputs, tolerances
from mindinfer.backend import Device
from mindinfer_cpu import CpuBackend

MODEL_CASES = case_dirs("model")
OP_CASES = case_dirs("op")


def _run_case(folder: Path, backend: CpuBackend, device: Device, rtol: float, atol: float) -> None:
    model = mindinfer.load(folder / "model.mindir")
    missing = backend.capabilities.missing(model)
    if missing:
        # Only an undeclared need may excuse a case; a declared one must give MindSpore's answer.
        pytest.xfail(f"cpu plugin does not declare {', '.join(map(str, missing))}")
    info = meta(folder)
    exe = backend.compile(model, device, {})
    got = exe.run(inputs(folder))
    want = outputs(folder)
    assert len(got) == len(want), f"{folder.name}: {len(got)} outputs, MindSpore gave {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        r, a = tolerances(info, i, rtol, atol)
        assert_matches(g, w, r, a, f"{folder.name} output {i}")


def test_corpus_is_present() -> None:
    assert len(MODEL_CASES) >= 7, "the seven seed corpus cases should be in conformance/.../cases/model"


@pytest.mark.parametrize("folder", MODEL_CASES, ids=[p.name for p in MODEL_CASES])
def test_model_case(folder: Path, backend: CpuBackend, device: Device) -> None:
    # The bar for the corpus: allclose(rtol=1e-4, atol=1e-5), whatever case.json says.
    _run_case(folder, backend, device, 1e-4, 1e-5)


@pytest.mark.parametrize("folder", OP_CASES, ids=[p.name for p in OP_CASES])
def test_op_case(folder: Path, backend: CpuBackend, device: Device) -> None:
    _run_case(folder, backend, device, 1e-4, 1e-5)
