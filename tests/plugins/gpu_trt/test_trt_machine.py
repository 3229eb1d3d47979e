"""The tensorrt plugin on this machine, through the real entry points and the real probe.

Here that means no NVIDIA driver and no TensorRT: the plugin loads, lists itself, says exactly why
``gpu`` is unusable, ``target="gpu"`` raises that reason and ``"gpu,cpu"`` falls back, recording why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mindinfer
import numpy as np
import pytest
from mindinfer._plugins import PluginRegistry
from mindinfer.errors import BackendUnavailableError
from mindinfer_tensorrt import _probe
from stored_cases import CASES, inputs, outputs

LENET = CASES / "model" / "lenet5"
GPU_REASON = next(
    (d.reason for d in PluginRegistry().find("tensorrt")[0].devices() if not d.usable),
    "",
)
pytestmark = pytest.mark.skipif(not GPU_REASON, reason="this machine has a usable GPU for the tensorrt plugin")


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MINDINFER_PLUGINS", "MINDINFER_DISABLE_PLUGIN_AUTOLOAD")}
    return subprocess.run(
        [sys.executable, "-m", "mindinfer", *argv], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_plugins_lists_tensorrt_as_loaded() -> None:
    res = _cli("plugins", "--json")
    assert res.returncode == 0, res.stderr
    info = {p["name"]: p for p in json.loads(res.stdout)}["tensorrt"]
    assert info["status"] == "loaded" and info["distribution"] == "mindinfer-tensorrt"
    (backend,) = info["backends"]
    assert (backend["name"], backend["device_kinds"], backend["priority"]) == ("tensorrt", ["gpu"], 100)
    names = [o["name"] for o in backend["options"]]
    assert names[:4] == ["precision", "workspace", "shapes", "builder_optimization_level"]


def test_devices_says_why_gpu_is_unusable_and_that_it_is_unverified() -> None:
    res = _cli("devices", "--json")
    assert res.returncode == 0, res.stderr
    (gpu,) = [d for d in json.loads(res.stdout) if d["backend"] == "tensorrt"]
    assert gpu["kind"] == "gpu" and gpu["usable"] is False
    assert gpu["reason"] == GPU_REASON
    assert gpu["details"]["note"] == _probe.NOT_VERIFIED
    if _probe.probe_driver().problem:  # this machine: no driver at all
        assert gpu["reason"].startswith("no NVIDIA driver")
    text = _cli("devices").stdout
    assert "gpu:0@tensorrt" in text and "unusable: " + GPU_REASON[:60] in text
    assert "has not yet been run on a GPU with TensorRT" in text


def test_gpu_target_raises_with_the_reason() -> None:
    with pytest.raises(BackendUnavailableError) as err:
        mindinfer.Session(LENET / "model.mindir", target="gpu")
    assert GPU_REASON in str(err.value) and "tensorrt" in str(err.value)


def test_gpu_cpu_falls_back_and_placement_records_why() -> None:
    sess = mindinfer.Session(LENET / "model.mindir", target="gpu,cpu")
    placement = sess.placement
    assert placement.device.kind == "cpu" and placement.target == "cpu" and placement.fallback_taken
    attempt = placement.fallbacks[0]
    assert attempt.target == "gpu" and GPU_REASON in attempt.reason
    got = sess.run(inputs(LENET))
    np.testing.assert_allclose(got[0], outputs(LENET)[0], rtol=1e-4, atol=1e-5)


def test_cache_command_lists_and_clears(tmp_path: Path) -> None:
    folder = tmp_path / "tensorrt"
    folder.mkdir()
    (folder / "abc.engine").write_bytes(b"x" * 2048)
    (folder / "abc.json").write_text(json.dumps({"tensorrt": "10.9.0", "gpu": "H200", "options": {}}))
    env = {**os.environ, "MINDINFER_CACHE_DIR": str(tmp_path)}
    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "mindinfer", "cache", *a], env=env, capture_output=True, text=True, check=False
    )
    res = run()
    assert res.returncode == 0, res.stderr
    assert f"{folder}: 1 engine(s)" in res.stdout and "abc" in res.stdout and "TensorRT 10.9.0" in res.stdout
    assert json.loads(run("list", "--json").stdout)[0]["size"] == 2048
    res = run("clear")
    assert "removed 2 file(s)" in res.stdout and not list(folder.iterdir())
