"""``mindinfer inspect`` on each real-world network names every primitive a backend lacks, not just the
first (opt-in with the other real-world tests: ``-m realworld``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mindinfer
import pytest
from mindinfer.ir import CONTROL_FLOW_OPS
from stored_cases import REALWORLD, realworld_cases

CASES = realworld_cases()

pytestmark = pytest.mark.realworld


@pytest.mark.skipif(not CASES, reason=f"no networks in {REALWORLD} (make them with tools/make_realworld.py)")
@pytest.mark.parametrize("folder", CASES, ids=[p.parent.name for p in CASES])
def test_inspect_lists_every_missing_primitive(folder: Path) -> None:
    model_path = folder / "model.mindir"
    used = set(mindinfer.load(model_path).primitive_histogram()) - set(CONTROL_FLOW_OPS)
    proc = subprocess.run(
        [sys.executable, "-m", "mindinfer", "inspect", str(model_path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("backends:", 1)[1].splitlines()
    seen = 0
    for backend in mindinfer.get_registry().backends():
        line = next((ln for ln in lines if ln.strip().startswith(f"{backend.name} (")), None)
        if line is None:
            continue
        seen += 1
        lacking = set(re.findall(r"(\w+) \(\d+\)", line.split("lacks", 1)[1].split(";")[0])) if "lacks" in line else set()
        assert lacking == used - set(backend.capabilities.primitives), line
    assert seen >= 2, proc.stdout
