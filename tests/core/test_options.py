"""Backend options end to end: per-alternative options, ``--option``, ``bench --threads``, listing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mindinfer as mi
import pytest
from mindinfer._plugins import PluginRegistry, set_registry
from mindinfer.backend import Option
from mindinfer.cli import main
from mindinfer.errors import InvalidOptionError
from mindinfer.targets import options_for, parse_target
from mindinfer.testing import NullBackend, NullPlugin

MODEL = Path(__file__).resolve().parents[2] / "conformance" / "mindinfer_conformance" / "cases" / "model" / "lenet5"


@pytest.fixture
def fleet() -> Iterator[tuple[NullBackend, NullBackend]]:
    gpu = NullBackend(
        options=(Option("workspace_mb", int, 256, "scratch memory", minimum=1),),
        name="fastgpu",
        device_kinds=("gpu",),
        priority=9,
    )
    cpu = NullBackend(
        options=(Option("threads", int, None, "worker threads", minimum=1),),
        name="slowcpu",
        device_kinds=("cpu",),
        priority=9,
    )
    reg = PluginRegistry(autoload=False)
    reg.register(NullPlugin(gpu, cpu), name="fleet")
    old = set_registry(reg)
    yield gpu, cpu
    set_registry(old)


def test_options_for_keys_options_by_alternative() -> None:
    target = parse_target("gpu,cpu@onnx")
    gpu, cpu = target.alternatives
    opts = {"verbose": True, "gpu": {"workspace_mb": 512}, "cpu@onnx": {"opset": 13}, "cpu": {"opset": 15}}
    assert options_for(opts, target, gpu) == {"verbose": True, "workspace_mb": 512}
    assert options_for(opts, target, cpu) == {"verbose": True, "opset": 13}  # the exact alternative wins
    with pytest.raises(InvalidOptionError, match=r"'ascend'.*no such alternative"):
        options_for({"ascend": {"x": 1}}, target, gpu)
    # A dict under a key that is no target is an ordinary option (the tensorrt plugin's shapes).
    shapes = {"x": {"min": [1], "opt": [1], "max": [8]}}
    assert options_for({"shapes": shapes}, target, gpu) == {"shapes": shapes}


def test_a_fallback_list_passes_each_backend_only_its_own_options(fleet: tuple[NullBackend, NullBackend]) -> None:
    gpu, cpu = fleet
    opts = {"gpu": {"workspace_mb": 512}, "cpu": {"threads": 2}}
    sess = mi.Session(MODEL / "model.mindir", target="gpu,cpu", options=opts)
    assert sess.placement.plugin == "fastgpu" and gpu.received == [{"workspace_mb": 512}]
    gpu._usable, gpu._reason = False, "no driver"
    sess = mi.Session(MODEL / "model.mindir", target="gpu,cpu", options=opts)
    assert sess.placement.plugin == "slowcpu" and cpu.received == [{"threads": 2}]
    with pytest.raises(InvalidOptionError, match=r"plugin 'slowcpu': unknown option\(s\) workspace_mb"):
        mi.Session(MODEL / "model.mindir", target="cpu", options={"workspace_mb": 1})


def test_cli_option_and_bench_threads_reach_the_backend(
    fleet: tuple[NullBackend, NullBackend], capsys: pytest.CaptureFixture[str]
) -> None:
    gpu, cpu = fleet
    model = str(MODEL / "model.mindir")
    assert main(["run", model, "-t", "gpu,cpu", "--option", "gpu/workspace_mb=64", "-o", "cpu/threads=3"]) == 0
    assert gpu.received[-1] == {"workspace_mb": 64}
    assert main(["bench", model, "-t", "cpu", "--loops", "1", "--warmup", "0", "--threads", "2", "--callers", "2"]) == 0
    assert cpu.received[-1] == {"threads": 2}
    out = capsys.readouterr().out
    assert "1 timed x 2 thread(s)" in out
    assert main(["run", model, "-t", "cpu", "--option", "threads=zero"]) == 2
    assert "option threads='zero' is not valid" in capsys.readouterr().err


def test_plugins_lists_each_backends_options(fleet: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "option workspace_mb (int >= 1, default 256): scratch memory" in out
    assert main(["plugins", "--json"]) == 0
    backends = {b["name"]: b for p in json.loads(capsys.readouterr().out) for b in p["backends"]}
    assert backends["slowcpu"]["options"] == [
        {"name": "threads", "accepts": "int >= 1", "default": None, "help": "worker threads", "choices": None}
    ]
