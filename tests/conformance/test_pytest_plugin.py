"""``pytest --pyargs mindinfer_conformance --mindinfer-target T``, run in a subprocess as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _pytest(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "mindinfer_conformance", "-p", "no:cacheprovider", *args]
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env=env or dict(os.environ), timeout=300, check=False
    )


def test_pytest_plugin_passes_cpu(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    proc = _pytest(
        ["--mindinfer-target", "cpu@cpu", "-q", "--mindinfer-min-coverage", "0.9", "--mindinfer-report", str(report)],
        tmp_path,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert " passed" in out and " failed" not in out.splitlines()[-1]
    assert "target 'cpu@cpu' -> backend 'cpu'" in out and "PASSED: " in out
    assert report.is_file()


def test_pytest_plugin_without_target_skips_everything(tmp_path: Path) -> None:
    proc = _pytest(["-q", "-rs"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 skipped" in proc.stdout and "no --mindinfer-target given" in proc.stdout


def test_pytest_plugin_fails_a_faulty_backend_and_names_the_culprit(
    tmp_path: Path, faulty_site: dict[str, str]
) -> None:
    proc = _pytest(
        [
            "--mindinfer-target",
            "cpu@softmax_bug",
            "--mindinfer-tier",
            "op,model",
            "--mindinfer-case",
            "soft",
            "-q",
            "-rfs",
        ],
        tmp_path,
        faulty_site,
    )
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "FAILED" in out and "test_case[op/softmax_last]" in out and "worst abs error 0.01" in out
    assert "test_case[op/log_softmax] PASSED" not in out  # -q: passing cases are not listed...
    assert "suspect primitive(s) (used by failing cases only): Softmax" in out


def test_pytest_plugin_fails_on_low_coverage_and_skips_unsupported(tmp_path: Path, faulty_site: dict[str, str]) -> None:
    proc = _pytest(
        ["--mindinfer-target", "cpu@declares_little", "--mindinfer-tier", "op", "--mindinfer-case", "soft",
         "--mindinfer-min-coverage", "50%", "-q", "-rs"],
        tmp_path,
        faulty_site,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "unsupported: needs primitive Softmax" in out
    assert "TOO LOW" in out
