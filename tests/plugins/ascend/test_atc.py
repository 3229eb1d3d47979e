"""The atc command lines the plugin builds, checked by the ATC simulator, and atc's failures."""

from __future__ import annotations

import sys
from pathlib import Path

import mindinfer
import onnx
import pytest
from ascend_sim import Sim, case
from mindinfer.errors import InvalidOptionError, MindInferError
from mindinfer_ascend.atc import AtcJob, run_atc
from mindinfer_ascend.testing import atc_simulator, simulated_om
from onnx import TensorProto, helper

SIMULATOR = [sys.executable, "-m", "mindinfer_ascend.testing.atc_simulator"]


def _onnx(tmp_path: Path, opset: int = 13, dims: tuple[int | str, ...] = ("batch", 3, 8, 8)) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(dims))
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def _job(tmp_path: Path, **kw: object) -> AtcJob:
    args: dict[str, object] = {
        "output": tmp_path / "out",
        "soc_version": "Ascend310P3",
        "inputs": (("x", (-1, 3, 8, 8)),),
        "precision_mode": "allow_fp32_to_fp16",
        "batch_sizes": (1, 4, 8),
    }
    args.update(kw)
    if "onnx" not in args:
        args["onnx"] = _onnx(tmp_path)
    return AtcJob(**args)  # type: ignore[arg-type]


def test_the_command_line_for_a_dynamic_batch_image_model(tmp_path: Path) -> None:
    job = _job(tmp_path)
    assert job.arguments() == [
        f"--model={tmp_path / 'm.onnx'}",
        "--framework=5",
        f"--output={tmp_path / 'out'}",
        "--soc_version=Ascend310P3",
        "--input_format=NCHW",
        "--input_shape=x:-1,3,8,8",
        "--precision_mode=allow_fp32_to_fp16",
        "--log=error",
        "--dynamic_batch_size=1,4,8",
    ]
    om = run_atc(job, SIMULATOR, 60, "m")
    header, _ = simulated_om.read(om)  # type: ignore[misc]
    assert header["batch_sizes"] == [1, 4, 8] and header["precision_mode"] == "allow_fp32_to_fp16"
    assert header["soc_version"] == "Ascend310P3" and header["input_format"] == "NCHW"


def test_a_static_non_image_model_gets_nd_and_no_gears(tmp_path: Path) -> None:
    path = _onnx(tmp_path, dims=(2, 5))
    job = _job(tmp_path, onnx=path, inputs=(("x", (2, 5)),), batch_sizes=(), precision_mode="must_keep_origin_dtype")
    args = job.arguments()
    assert "--input_format=ND" in args and "--input_shape=x:2,5" in args
    assert not any(a.startswith("--dynamic_batch_size") for a in args)
    header, _ = simulated_om.read(run_atc(job, SIMULATOR, 60, "m"))  # type: ignore[misc]
    assert header["batch_sizes"] == [] and header["inputs"] == [{"name": "x", "shape": [2, 5]}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_sizes": ()}, "no --dynamic_batch_size"),
        ({"batch_sizes": (4,)}, "2 to 100 distinct"),
        ({"batch_sizes": (1, 4096)}, "from 1 to 2048"),
        ({"inputs": (("x", (-1, 3, -1, 8)),)}, "dim 2 is -1"),
        ({"inputs": (("image", (-1, 3, 8, 8)),)}, "not inputs of the model"),
        ({"inputs": (("x", (-1, 3, 9, 8)),)}, "dim 2 is 9"),
        ({"precision_mode": "fp32"}, "--precision_mode=fp32"),
        ({"soc_version": "ascend310"}, "not a known SoC"),
    ],
)
def test_the_simulator_refuses_what_atc_refuses(
    tmp_path: Path, change: dict[str, object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _job(tmp_path, **change)
    assert atc_simulator.main(job.arguments()) == 1  # in-process: the same checks, without a subprocess
    out = capsys.readouterr().out
    assert "ATC run failed" in out and message in out
    assert not (tmp_path / "out.om").exists()


def test_a_refused_command_line_becomes_an_error_quoting_atc(tmp_path: Path) -> None:
    job = _job(tmp_path, onnx=_onnx(tmp_path, opset=17))
    with pytest.raises(MindInferError, match="atc failed to compile m for Ascend310P3") as info:
        run_atc(job, SIMULATOR, 60, "m")
    text = str(info.value)
    assert "opset 17 is outside" in text and "command: " in text and "--precision_mode=allow_fp32_to_fp16" in text


def test_the_simulator_parses_atc_option_forms() -> None:
    assert atc_simulator.parse(["--model", "a.onnx", "-framework=5"]) == {"model": "a.onnx", "framework": "5"}
    with pytest.raises(atc_simulator.AtcError, match="twice"):
        atc_simulator.parse(["--log=error", "--log=info"])
    with pytest.raises(atc_simulator.AtcError, match="does not know"):
        atc_simulator.parse(["--weight=x"])


def test_a_failing_atc_puts_its_log_into_the_error(sim: Sim) -> None:
    sim.monkeypatch.setenv("MINDINFER_ASCEND_SIMULATOR_ATC_FAIL", "E19999: operator Foo has no kernel for Ascend910B3")
    path, _, _ = case("lenet5")
    with pytest.raises(MindInferError) as info:
        mindinfer.Session(path, target="ascend", plugins=sim.registry)
    text = str(info.value)
    assert "atc failed to compile" in text and str(path) in text and "Ascend910B3" in text
    assert "E19999: operator Foo has no kernel" in text and "--framework=5" in text
    assert sim.om_files() == []


def test_atc_is_stopped_after_the_timeout(sim: Sim) -> None:
    sim.monkeypatch.setenv("MINDINFER_ASCEND_SIMULATOR_ATC_SLEEP", "30")
    path, _, _ = case("lenet5")
    with pytest.raises(MindInferError, match=r"did not finish compiling .* within 1 s"):
        mindinfer.Session(path, target="ascend", options={"atc_timeout": 1}, plugins=sim.registry)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"precision": "fp64"}, "precision"),
        ({"batch_sizes": [8]}, "2 to 100 distinct gears"),
        ({"batch_sizes": [0, 2]}, "from 1 to 2048"),
        ({"batch_sizes": [1, 4096]}, "from 1 to 2048"),
        ({"batch_sizes": "1,two"}, "from 1 to 2048"),
        ({"opset": 17}, "opset"),
        ({"atc_timeout": 0}, "atc_timeout"),
        ({"threads": 2}, "unknown option"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(sim: Sim, options: dict[str, object], message: str) -> None:
    path, _, _ = case("lenet5")
    with pytest.raises(InvalidOptionError, match=message):
        mindinfer.Session(path, target="ascend", options=options, plugins=sim.registry)
    assert "acl.mdl.load_from_file" not in sim.acl.sim_calls()
