"""``mindinfer conformance``: reports, exit status, and the --all matrix (faulty plugins installed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mindinfer import PluginRegistry
from mindinfer.cli import main
from mindinfer_conformance.cases import discover
from mindinfer_conformance.cli import parse_coverage, parse_option
from mindinfer_conformance.runner import SuiteConfig, run_all


def test_cli_writes_json_and_markdown_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report, md = tmp_path / "r.json", tmp_path / "r.md"
    rc = main(["conformance", "--target", "cpu@cpu", "--tier", "api,model", "--report", str(report),
               "--markdown", str(md), "--min-coverage", "90%"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "PASSED: " in out and "coverage 100.0%" in out
    data = json.loads(report.read_text())
    assert data["backend"] == "cpu" and data["tiers"] == ["api", "model"]
    assert data["summary"]["ok"] and data["summary"]["min_coverage"] == 0.9
    assert {r["id"] for r in data["results"]} >= {"api/threads", "model/lenet5"}
    assert data["devices"] and data["devices"][0]["kind"] == "cpu"
    lenet = next(r for r in data["results"] if r["id"] == "model/lenet5")
    assert lenet["status"] == "passed" and lenet["worst"]["worst_abs"] is not None
    text = md.read_text()
    n_models = len(discover(("model",)))
    assert text.startswith("# mindinfer conformance: `cpu@cpu`") and f"| model | {n_models} | 0 | 0 | 100.0% |" in text


def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "--target", "cpu@nosuchplugin"]) == 2
    assert "nosuchplugin" in capsys.readouterr().err
    assert main(["conformance", "--target", "cpu", "--tier", "ops"]) == 2
    assert "unknown conformance tier" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "value"), [("0.8", 0.8), ("80", 0.8), ("80%", 0.8), ("1", 1.0), ("0", 0.0)])
def test_min_coverage_accepts_fractions_and_percentages(text: str, value: float) -> None:
    assert parse_coverage(text) == pytest.approx(value)


def test_matrix_has_a_column_per_backend(faulty_registry: PluginRegistry) -> None:
    matrix = run_all(SuiteConfig(tiers=("op",), select="softmax"), registry=faulty_registry)
    assert matrix.columns() == ["cpu", "declares_little", "erf_garbage", "erf_raises", "softmax_bug"]
    assert "op/softmax_last" in matrix.rows() and "op/log_softmax" in matrix.rows()
    assert matrix.cell("cpu", "op/softmax_last") == "passed"
    assert matrix.cell("softmax_bug", "op/softmax_last") == "failed"
    assert matrix.cell("softmax_bug", "op/log_softmax") == "passed"  # LogSoftmax is another primitive
    assert matrix.cell("declares_little", "op/softmax_last") == "unsupported"
    assert not matrix.ok
    text = matrix.to_text()
    row = next(line for line in text.splitlines() if line.startswith("op/softmax_last "))
    assert row.split()[1:] == ["pass", "unsupported", "pass", "pass", "FAIL"]
    md = matrix.to_markdown()
    assert "| case | `cpu` | `declares_little` | `erf_garbage` | `erf_raises` | `softmax_bug` |" in md
    assert "| `op/softmax_last` | ✅ pass | ➖ unsupported | ✅ pass | ✅ pass | ❌ **FAIL** |" in md


def test_all_with_installed_faulty_plugins_fails_and_prints_the_matrix(
    tmp_path: Path, faulty_site: dict[str, str]
) -> None:
    md = tmp_path / "matrix.md"
    proc = subprocess.run(
        [sys.executable, "-m", "mindinfer", "conformance", "--all", "--tier", "op", "--case", "softmax", "--markdown", str(md)],
        capture_output=True, text=True, env=faulty_site, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    header = proc.stdout.splitlines()[0].split()
    assert header[0] == "case" and {"cpu", "softmax_bug", "erf_raises"} <= set(header)
    assert "softmax_bug: FAILED" in proc.stdout and "cpu: PASSED" in proc.stdout
    assert "❌ **FAIL**" in md.read_text()


def test_compile_options_parse_as_json_or_text() -> None:
    assert parse_option("threads=2") == ("threads", 2)
    assert parse_option("mode=fast") == ("mode", "fast")
    assert parse_option("flags=[1, 2]") == ("flags", [1, 2])
    with pytest.raises(Exception, match="KEY=VALUE"):
        parse_option("threads")


def test_reduced_precision_policy_still_catches_the_perturbed_softmax(faulty_registry: PluginRegistry) -> None:
    # fp16 tolerances (rtol 1e-2, atol 1e-3, cosine 0.999) are looser, yet +1e-2 on a softmax
    # whose values are mostly far below 1 still breaks them.
    res = run_all(SuiteConfig(tiers=("op",), select="op/softmax_last", precision="fp16"), registry=faulty_registry)
    assert res.cell("cpu", "op/softmax_last") == "passed"
    assert res.cell("softmax_bug", "op/softmax_last") == "failed"
