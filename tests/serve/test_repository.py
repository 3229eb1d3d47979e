"""Model repository layout, config.json and version policy; MindSpore Serving URLs; the CLI's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mindinfer.cli import main
from mindinfer.serve import ModelRepository, ServeConfigError, VersionPolicy
from mindinfer.serve.errors import RequestError
from mindinfer.serve.mss import parse_url
from serving import CASES

LENET = CASES / "lenet5" / "model.mindir"


def _model(root: Path, name: str, versions: list[int], config: dict[str, object] | None = None) -> None:
    for v in versions:
        (root / name / str(v)).mkdir(parents=True)
        (root / name / str(v) / "model.mindir").write_bytes(LENET.read_bytes())
    if config is not None:
        (root / name / "config.json").write_text(json.dumps(config))


def test_single_file_is_model_of_its_stem() -> None:
    repo = ModelRepository.open(LENET)
    assert [(v.name, v.version, v.path) for v in repo.versions] == [("model", 1, LENET)]


@pytest.mark.parametrize(
    ("policy", "served"),
    [
        (None, [3]),
        ({"latest": {"num_versions": 2}}, [2, 3]),
        ({"all": {}}, [1, 2, 3]),
        ({"specific": {"versions": [1, 3]}}, [1, 3]),
    ],
)
def test_version_policy(tmp_path: Path, policy: dict[str, object] | None, served: list[int]) -> None:
    _model(tmp_path, "m", [1, 2, 3], {"version_policy": policy} if policy else None)
    assert [v.version for v in ModelRepository.open(tmp_path).versions] == served


def test_config_fields(tmp_path: Path) -> None:
    _model(
        tmp_path,
        "m",
        [1],
        {"target": "cpu@onnx", "options": {"a": 1}, "max_batch_size": 4, "batch_wait_ms": 2, "batch_sizes": [4, 1],
         "inputs": ["image"], "outputs": ["logits"], "with_batch_dim": False},
    )  # fmt: skip
    cfg = ModelRepository.open(tmp_path).versions[0].config
    assert cfg.target == "cpu@onnx" and cfg.options == {"a": 1} and cfg.max_batch_size == 4
    assert cfg.batch_wait_ms == 2.0 and cfg.batch_sizes == (1, 4) and cfg.inputs == ("image",)
    assert cfg.outputs == ("logits",) and cfg.with_batch_dim is False and cfg.version_policy == VersionPolicy()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"max_batch": 4}, "unknown key(s) max_batch"),
        ({"max_batch_size": -1}, "max_batch_size must be an integer >= 0"),
        ({"batch_sizes": []}, "batch_sizes must be a non-empty list"),
        ({"version_policy": {"newest": 1}}, "version_policy must be one of"),
        ({"inputs": ["a", "a"]}, "inputs must be a list of distinct"),
    ],
)
def test_bad_config_names_the_file_and_key(tmp_path: Path, config: dict[str, object], message: str) -> None:
    _model(tmp_path, "m", [1], config)
    with pytest.raises(ServeConfigError, match="config.json") as err:
        ModelRepository.open(tmp_path)
    assert message in str(err.value)


def test_empty_or_missing_repository(tmp_path: Path) -> None:
    with pytest.raises(ServeConfigError, match="no such model file or repository"):
        ModelRepository.open(tmp_path / "nothing")
    (tmp_path / "m" / "1").mkdir(parents=True)
    with pytest.raises(ServeConfigError, match=r"no model.mindir or model.onnx"):
        ModelRepository.open(tmp_path)


def test_mindspore_serving_urls() -> None:
    assert parse_url("resnet:predict") == ("resnet", 0, "predict")
    assert parse_url("resnet/version/2:predict") == ("resnet", 2, "predict")
    for bad in ("resnet", "resnet/v/2:predict", ":predict", "resnet:"):
        with pytest.raises(RequestError, match="please check url"):
            parse_url(bad)


def test_cli_checks_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(LENET), "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "none")]) == 2
    assert "no such model file or repository folder" in capsys.readouterr().err


def test_cli_says_what_to_install_when_the_extra_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import mindinfer.serve.cli as serve_cli

    monkeypatch.setattr(serve_cli, "_SERVE_MODULES", {**serve_cli._SERVE_MODULES, "no_such_module_x": "fastapi"})
    assert main(["serve", str(LENET)]) == 2
    err = capsys.readouterr().err
    assert "missing fastapi" in err and "pip install 'mindinfer[serve]'" in err
