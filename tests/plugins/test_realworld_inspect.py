"""``mindinfer inspect`` names every primitive a backend lacks, not just the first: on each real-world
network (opt-in with the other real-world tests: ``-m realworld``) and on stored cases that lack some."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mindinfer
import pytest
from mindinfer.ir import CONTROL_FLOW_OPS
from stored_cases import CASES as STORED
from stored_cases import REALWORLD, realworld_cases

CASES = realworld_cases()


@pytest.mark.realworld
@pytest.mark.skipif(not CASES, reason=f"no networks in {REALWORLD} (make them with tools/make_realworld.py)")
@pytest.mark.parametrize("folder", CASES, ids=[p.parent.name for p in CASES])
def test_inspect_lists_every_missing_primitive(folder: Path) -> None:
    _check_inspect(folder / "model.mindir")


def test_inspect_lists_what_the_onnx_plugin_lacks() -> None:
    # BitwiseAndTensor has no onnx lowering at the default opset: inspect must say so for that backend.
    out = _check_inspect(STORED / "op" / "bitwise_and_tensor" / "model.mindir")
    assert "lacks BitwiseAndTensor (1)" in out


def _check_inspect(model_path: Path) -> str:
    """Run ``mindinfer inspect``; each backend's "lacks" list must be exactly what it does not declare."""
    used = set(mindinfer.load(model_path).primitive_histogram()) - set(CONTROL_FLOW_OPS)
    proc = subprocess.run(
        [sys.executable, "-m", "mindinfer", "inspect", str(model_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("backends:", 1)[1].splitlines()
    seen = 0
    for backend in mindinfer.get_registry().backends():
        line = next((ln for ln in lines if ln.strip().startswith(f"{backend.name} (")), None)
        if line is None:
            continue
        seen += 1
        lacking = (
            set(re.findall(r"(\w+) \(\d+\)", line.split("lacks", 1)[1].split(";")[0])) if "lacks" in line else set()
        )
        assert lacking == used - set(backend.capabilities.primitives), line
    assert seen >= 2, proc.stdout
    return proc.stdout
