"""What a new user meets on the command line: JSON output, whole outputs, output paths checked
before any work, failed plugins listed, and profiles from the onnx plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mindinfer.cli import main

CASES = Path(__file__).resolve().parents[2] / "conformance" / "mindinfer_conformance" / "cases" / "model"
LENET = CASES / "lenet5" / "model.mindir"
TWO = CASES / "two_in_two_out" / "model.mindir"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_json_and_print_all(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "run", str(TWO), "-t", "cpu@cpu", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["placement"]["plugin"] == "cpu" and data["placement"]["requested"] == "cpu@cpu"
    assert [(o["name"], o["shape"]) for o in data["outputs"]] == [("output_0", [3, 8]), ("output_1", [3, 1])]
    assert len(data["outputs"][0]["first"]) == 6
    code, out, _ = cli(capsys, "run", str(TWO), "-t", "cpu@cpu", "--json", "--print-all")
    full = json.loads(out)["outputs"][0]["values"]
    assert len(full) == 24
    code, out, _ = cli(capsys, "run", str(TWO), "-t", "cpu@cpu", "--print-all")
    assert "..." not in out and out.count("\n") > 5  # every value printed, not the first six
    code, out, _ = cli(capsys, "run", str(TWO), "-t", "cpu@cpu")
    assert ", ...]" in out


def test_inspect_json_lists_every_missing_primitive(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "inspect", str(TWO), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["format"] == "mindir" and [i["name"] for i in data["inputs"]] == ["a", "b"]
    assert data["primitives"]["MatMul"] >= 1 and data["parameters"]["tensors"] == 2
    cpu = next(b for b in data["backends"] if b["name"] == "cpu")
    assert cpu["lacks"] == {} and cpu["coverage"] == "supports every primitive"


def test_bench_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "bench", str(LENET), "-t", "cpu@cpu", "--loops", "2", "--warmup", "0", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["placement"]["plugin"] == "cpu" and data["loops"] == 2
    assert set(data["latency_s"]) == {"min", "median", "p90", "max", "mean"} and data["throughput_per_s"] > 0


def test_bench_profile_on_the_onnx_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    argv = ["bench", str(LENET), "-t", "cpu@onnx", "--loops", "2", "--warmup", "0", "--profile", "--json"]
    code, out, err = cli(capsys, *argv)
    assert code == 0, err
    profile = json.loads(out)["profile"]
    assert profile is not None and profile["runs"] == 2
    assert "Conv" in profile["ops_s"] and all(n["seconds"] >= 0 for n in profile["nodes_s"])
    code, out, _ = cli(capsys, *argv[:-1])
    assert "profile: by primitive" in out and "offers no profile" not in out


@pytest.mark.parametrize("kind", ["missing folder", "directory", "file as folder"])
def test_convert_output_checked_before_converting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    pytest.importorskip("onnxruntime")
    target = {
        "missing folder": tmp_path / "nope" / "net.onnx",
        "directory": tmp_path,
        "file as folder": tmp_path / "afile" / "net.onnx",
    }[kind]
    (tmp_path / "afile").write_text("x")
    code, out, err = cli(capsys, "convert", str(LENET), "-o", str(target))
    assert code == 2 and err.startswith("error: -o ") and len(err.strip().splitlines()) == 1, err
    assert "wrote" not in out


def test_convert_refuses_a_directory_as_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    code, _, err = cli(capsys, "convert", str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_run_output_dir_that_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    afile = tmp_path / "out"
    afile.write_text("x")
    code, out, err = cli(capsys, "run", str(LENET), "-t", "cpu@cpu", "--output-dir", str(afile))
    assert code == 2 and "--output-dir" in err and "is a file" in err and "placement" not in out
    code, _, err = cli(capsys, "run", str(LENET), "-t", "cpu@cpu", "--output-dir", str(afile / "sub"))
    assert code == 2 and "cannot be created" in err
    code, out, err = cli(capsys, "run", str(LENET), "-t", "cpu@cpu", "--output-dir", str(tmp_path / "new" / "dir"))
    assert code == 0, err
    assert np.load(tmp_path / "new" / "dir" / "output_0.npy").shape == (2, 10)


def test_a_directory_as_model_on_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for command in ("run", "inspect", "bench"):
        code, _, err = cli(capsys, command, str(tmp_path))
        assert code == 2 and "is a directory" in err and "no such" not in err, command


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MINDINFER_PLUGINS", "MINDINFER_DISABLE_PLUGIN_AUTOLOAD")}
    return {**env, **extra}


def _mindinfer(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "mindinfer", *argv]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=300)


def test_plugin_environment_variables_are_named(tmp_path: Path) -> None:
    proc = _mindinfer("plugins", env=_env(MINDINFER_DISABLE_PLUGIN_AUTOLOAD="1"))
    assert proc.returncode == 0 and "MINDINFER_DISABLE_PLUGIN_AUTOLOAD is set" in proc.stdout
    assert "no plugins installed" not in proc.stdout
    proc = _mindinfer("run", str(LENET), env=_env(MINDINFER_DISABLE_PLUGIN_AUTOLOAD="1"))
    assert proc.returncode == 2 and "MINDINFER_DISABLE_PLUGIN_AUTOLOAD is set" in proc.stderr
    assert "reinstall" not in proc.stderr
    proc = _mindinfer("devices", env=_env(MINDINFER_PLUGINS="cpu"))
    assert proc.returncode == 0 and "MINDINFER_PLUGINS='cpu' is set" in proc.stdout
    proc = _mindinfer("plugins", env=_env(MINDINFER_PLUGINS="cpu,nosuchplugin"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: MINDINFER_PLUGINS='cpu,nosuchplugin'")
    assert "Traceback" not in proc.stderr


BROKEN = "raise ImportError('libvendor.so.2: cannot open shared object file')\n"


def _broken_plugin(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "mi_broken_vendor.py").write_text(BROKEN)
    dist = tmp_path / "mi_broken_vendor-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mi-broken-vendor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[mindinfer.backends]\nvendor = mi_broken_vendor\n")
    return _env(PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))


def test_devices_lists_plugins_that_failed(tmp_path: Path) -> None:
    env = _broken_plugin(tmp_path)
    proc = _mindinfer("devices", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "plugin vendor: failed to load" in proc.stdout and "libvendor.so.2" in proc.stdout
    proc = _mindinfer("devices", "--json", env=env)
    rows = json.loads(proc.stdout)
    failed = [r for r in rows if r["backend"] == "vendor"]
    assert failed and not failed[0]["usable"] and "libvendor.so.2" in failed[0]["reason"]
    assert any(r["backend"] == "cpu" and r["usable"] for r in rows)


def test_conformance_all_lists_failed_plugins_and_fails(tmp_path: Path) -> None:
    env = _broken_plugin(tmp_path)
    md = tmp_path / "m.md"
    proc = _mindinfer("conformance", "--all", "--tier", "api", "--markdown", str(md), env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "plugin vendor: FAILED to load" in proc.stdout and "libvendor.so.2" in proc.stdout
    assert "plugin `vendor`: **FAILED to load**" in md.read_text()


@pytest.mark.parametrize("flag", ["--report", "--markdown"])
def test_conformance_report_paths_checked_before_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mindinfer_conformance import cli as conformance_cli

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the suite ran before the report path was checked")

    monkeypatch.setattr(conformance_cli, "run_suite", must_not_run)
    monkeypatch.setattr(conformance_cli, "run_all", must_not_run)
    for bad in (tmp_path / "missing" / "r.out", tmp_path):
        for which in (["--target", "cpu@cpu"], ["--all"]):
            code, _, err = cli(capsys, "conformance", *which, flag, str(bad))
            assert code == 2 and err.startswith(f"error: {flag} "), err


def test_demo_says_where_the_command_line_is() -> None:
    demo = Path(__file__).resolve().parents[2] / "examples" / "demo.py"
    proc = subprocess.run([sys.executable, str(demo)], check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    cli = Path(sys.executable).parent / "mindinfer"
    assert "command line: " in proc.stdout and "mindinfer devices" in proc.stdout
    assert cli.is_file()


@pytest.mark.parametrize("given", ["0", "-1", "nan", "soon"])
def test_run_timeout_must_be_positive_seconds_before_anything_loads(
    given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", str(LENET), "--timeout", given])
    assert info.value.code == 2
    assert f"--timeout: must be a number of seconds > 0, got '{given}'" in capsys.readouterr().err
