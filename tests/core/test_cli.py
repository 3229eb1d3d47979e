"""The ``mindinfer`` command line, in-process (``main([...])``) and as a real subprocess."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mindinfer as mi
import numpy as np
import pytest
from mindinfer._plugins import PluginRegistry, set_registry
from mindinfer.cli import main
from mindinfer.testing import NullBackend, NullPlugin

CASES = Path(__file__).resolve().parents[2] / "conformance" / "mindinfer_conformance" / "cases" / "model"
ALL_CASES = sorted(p.name for p in CASES.iterdir() if (p / "model.mindir").is_file())


class CommandPlugin:
    """A plugin contributing a CLI subcommand, as the onnx plugin's ``convert`` does."""

    @mi.hookimpl
    def register_commands(self, subparsers: Any) -> None:
        p = subparsers.add_parser("hello", help="say hello")
        p.add_argument("--fail", action="store_true")
        p.set_defaults(func=self.run)

    def run(self, args: argparse.Namespace) -> int:
        if args.fail:
            raise mi.MindInferError("hello failed on purpose")
        print("hello from a plugin")
        return 0


class NoProfileBackend(NullBackend):
    def _compile(self, model, device, options):  # type: ignore[no-untyped-def]
        exe = super()._compile(model, device, options)
        return _Plain(exe)


class _Plain:
    """Wraps an executable, declaring that it offers no profile."""

    thread_safe = False
    can_profile = False
    cancellable = False
    accepts_device_arrays = False

    def __init__(self, exe: Any) -> None:
        self._exe = exe

    def run_profiled(self, inputs: Any) -> Any:
        raise AssertionError("core must not call run_profiled when can_profile is False")

    def run(self, inputs: Any) -> Any:
        return self._exe.run(inputs)

    def close(self) -> None:
        self._exe.close()


@pytest.fixture(autouse=True)
def registry() -> Iterator[PluginRegistry]:
    reg = PluginRegistry(autoload=False)
    reg.register(NullPlugin(), name="null")
    reg.register(
        NullPlugin(
            NullBackend(name="tinycpu", device_kinds=("cpu",), priority=5, primitives=frozenset({"Conv2D", "ReLU"})),
            NullBackend(name="fakegpu", device_kinds=("gpu",), usable=False, reason="no CUDA driver found"),
            NoProfileBackend(name="noprof", device_kinds=("noprof",)),
        ),
        name="fleet",
    )
    reg.register(CommandPlugin(), name="cmd")
    old = set_registry(reg)
    yield reg
    set_registry(old)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", ALL_CASES)
def test_inspect_describes_every_corpus_case(capsys: pytest.CaptureFixture[str], case: str) -> None:
    code, out, err = cli(capsys, "inspect", str(CASES / case / "model.mindir"))
    assert code == 0, err
    spec = json.loads((CASES / case / "case.json").read_text())
    n_in = len(spec["inputs"])
    section = out.split("inputs:\n")[1].split("outputs:\n")
    assert len(section[0].strip().splitlines()) == n_in
    assert len(section[1].split("graphs:")[0].strip().splitlines()) == len(spec["outputs"])
    assert "primitives (" in out and "parameters:" in out
    assert "  null (null): supports every primitive" in out
    assert "  tinycpu (cpu): lacks " in out
    assert "MindSpore 2.10.0" in out


def test_inspect_details(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, "inspect", str(CASES / "two_in_two_out" / "model.mindir"))
    assert "  a: float32[3,8]\n  b: float32[3,16]\n" in out
    for op in ("Concat", "MatMul", "BiasAdd", "Tanh", "ReduceMax", "Sigmoid", "SumExt", "Add"):
        assert f"  {op} " in out
    # dense: weight 8x24 + bias 8, float32
    assert "parameters: 2 tensors, 200 values, 800 bytes" in out
    assert "control flow: no" in out

    _, out, _ = cli(capsys, "inspect", str(CASES / "small_cnn_dynamic_batch" / "model.mindir"))
    assert "x: float32[?,3,32,32]  (dynamic)" in out
    assert "no dynamic shapes" not in out.split("null (null)")[1].splitlines()[0]

    _, out, _ = cli(capsys, "inspect", str(CASES / "branchy_if" / "model.mindir"))
    assert "control flow: yes" in out and "function graph(s)" in out
    assert "  Switch " in out and "  Partial " in out


def test_plugins_and_devices(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "plugins", "--json")
    data = {p["name"]: p for p in json.loads(out)}
    assert code == 0 and data["null"]["status"] == "loaded"
    assert [b["name"] for b in data["fleet"]["backends"]] == ["tinycpu", "fakegpu", "noprof"]
    code, out, _ = cli(capsys, "devices", "--json")
    devices = {d["backend"]: d for d in json.loads(out)}
    assert devices["fakegpu"]["usable"] is False and devices["fakegpu"]["reason"] == "no CUDA driver found"
    assert devices["null"]["usable"] is True
    code, out, _ = cli(capsys, "devices")
    assert "gpu:0@fakegpu" in out and "unusable: no CUDA driver found" in out


def test_run_with_random_and_given_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = str(CASES / "two_in_two_out" / "model.mindir")
    code, out, err = cli(capsys, "run", model, "--target", "null")
    assert code == 0, err
    assert "placement: null:0 via plugin 'null'" in out
    assert "output_0: float32[3, 8]" in out and "output_1: float32[3, 1]" in out
    code, out, err = cli(
        capsys,
        "run",
        model,
        "-t",
        "null",
        "--input",
        f"a={CASES / 'two_in_two_out' / 'input_0.npy'}",
        "--output-dir",
        str(tmp_path / "outs"),
    )
    assert code == 0, err
    saved = sorted(p.name for p in (tmp_path / "outs").iterdir())
    assert saved == ["output_0.npy", "output_1.npy"]
    assert np.load(tmp_path / "outs" / "output_1.npy").shape == (3, 1)


def test_run_dynamic_dims_default_to_one_unless_shaped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = str(CASES / "small_cnn_dynamic_batch" / "model.mindir")
    cli(capsys, "run", model, "-t", "null", "--output-dir", str(tmp_path))
    assert np.load(tmp_path / "output_0.npy").shape == (1, 5)
    cli(capsys, "run", model, "-t", "null", "--shape", "x=4,3,32,32", "--output-dir", str(tmp_path))
    assert np.load(tmp_path / "output_0.npy").shape == (4, 5)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "two_in_two_out", "-t", "gpu"], "plugins tried: plugin 'fakegpu'"),
        (["run", "two_in_two_out", "-t", "cuda"], "did you mean 'gpu'"),
        (["run", "two_in_two_out", "-t", "null", "--input", "zz=x.npy"], "no input 'zz'"),
        (["run", "two_in_two_out", "-t", "null", "--input", "a=/nonexistent.npy"], "cannot read it as a .npy"),
        (["run", "two_in_two_out", "-t", "null", "--input", "a=BADDTYPE"], "expected dtype float32, got int64"),
        (["run", "/nonexistent.mindir"], "no such model file"),
        (["inspect", "GARBAGE"], "GARBAGE"),
        (["bench", "two_in_two_out", "-t", "cpu@nope"], "no plugin or backend named 'nope'"),
        (["hello", "--fail"], "hello failed on purpose"),
    ],
)
def test_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], fragment: str
) -> None:
    garbage = tmp_path / "garbage.mindir"
    garbage.write_bytes(os.urandom(300))
    ints = tmp_path / "ints.npy"
    np.save(ints, np.zeros((3, 8), np.int64))
    argv = [
        str(CASES / a / "model.mindir")
        if a in ALL_CASES
        else str(garbage)
        if a == "GARBAGE"
        else a.replace("BADDTYPE", str(ints))
        for a in argv
    ]
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert fragment in err or (fragment == "GARBAGE" and str(garbage) in err)
    assert "Traceback" not in err


def test_bench_reports_latency_and_profile(capsys: pytest.CaptureFixture[str]) -> None:
    model = str(CASES / "lenet5" / "model.mindir")
    code, out, err = cli(
        capsys,
        "bench",
        model,
        "-t",
        "null",
        "--warmup",
        "1",
        "--loops",
        "5",
        "--callers",
        "3",
        "--profile",
        "--progress",
    )
    assert code == 0, err
    assert "load: " in out and "compile: " in out and "first run: " in out
    assert "runs: 1 warm-up, 5 timed x 3 thread(s)" in out
    for key in ("min", "median", "p90", "max"):
        assert f"{key} " in out.split("latency:")[1]
    assert "profile: mean over 5 run(s)" in out and "Null" in out
    assert "15/15" in err  # the progress bar reached the end
    code, out, _ = cli(capsys, "bench", model, "-t", "noprof", "--loops", "2", "--profile")
    assert code == 0 and "offers no profile" in out


def test_plugin_contributed_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "hello")
    assert code == 0 and out == "hello from a plugin\n"
    code, out, _ = cli(capsys)
    assert code == 0


def test_subprocess_lists_real_entry_points(tmp_path: Path) -> None:
    """``python -m mindinfer`` in a child process discovers plugins through entry points."""
    dist = tmp_path / "mi_cli_fake-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mi-cli-fake\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[mindinfer.backends]\nnull = mindinfer.testing\nbroken = mi_cli_missing_module\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "MINDINFER_PLUGINS": "null,broken"}
    env.pop("MINDINFER_DISABLE_PLUGIN_AUTOLOAD", None)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mindinfer", *argv], env=env, check=False, capture_output=True, text=True, timeout=60
        )

    res = run("plugins", "--json")
    assert res.returncode == 0, res.stderr
    data = {p["name"]: p for p in json.loads(res.stdout)}
    assert data["null"]["status"] == "loaded" and data["null"]["distribution"] == "mi-cli-fake"
    assert data["broken"]["status"] == "failed" and "mi_cli_missing_module" in data["broken"]["error"]
    # Every other installed plugin (the bundled cpu one, say) is blocked by MINDINFER_PLUGINS.
    assert all(p["status"] == "blocked" for n, p in data.items() if n not in ("null", "broken"))

    res = run("run", str(CASES / "two_in_two_out" / "model.mindir"), "--target", "null")
    assert res.returncode == 0, res.stderr
    assert "output_1: float32[3, 1]" in res.stdout
    assert "note: plugin 'broken' failed to load" in res.stderr

    res = run("run", str(CASES / "two_in_two_out" / "model.mindir"), "--target", "null@broken")
    assert res.returncode == 2 and res.stderr.count("error: ") == 1 and "Traceback" not in res.stderr
    assert "plugin 'broken'" in res.stderr and "failed to load" in res.stderr
