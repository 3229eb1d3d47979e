"""The template plugin's own conformance test (what a third-party author copies) passes.

It lives in ``examples/plugin_template/tests`` outside our testpaths, so run it here, as its author
would: pytest from the template's folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "plugin_template"


def test_template_plugin_runs_the_suite_as_its_own_test() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_conformance.py"],
        cwd=TEMPLATE, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
