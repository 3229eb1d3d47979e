"""Serving encrypted MindIR and checkpoints: config.json keys per model, and --checkpoint on the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as thttp
from serving import ROOT, Server, close_to_mindspore

DATA = ROOT / "tests" / "data" / "checkpoints"

pytest.importorskip("cryptography", reason="encrypted MindIR needs mindinfer[crypto]")


def _infer(server: Server, model: str, x: np.ndarray) -> np.ndarray:
    client = thttp.InferenceServerClient(server.http)
    name = client.get_model_metadata(model)["inputs"][0]["name"]
    inp = thttp.InferInput(name, list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer(model, [inp])
    return result.as_numpy(result.get_response()["outputs"][0]["name"])


def test_config_decrypts_and_applies_checkpoints(tmp_path: Path) -> None:
    for name, model, extra, config in (
        ("enc", "net_gcm.mindir", "gcm.key", {"dec_key_file": "gcm.key", "dec_mode": "AES-GCM"}),
        ("ckpt", "net.mindir", "weights.ckpt", {"checkpoint": "weights.ckpt"}),
    ):
        (tmp_path / name / "1").mkdir(parents=True)
        shutil.copy(DATA / model, tmp_path / name / "1" / "model.mindir")
        shutil.copy(DATA / extra, tmp_path / name / extra)
        (tmp_path / name / "config.json").write_text(json.dumps(config))
    x = np.load(DATA / "input_0.npy")
    with Server(tmp_path) as server:
        assert close_to_mindspore(_infer(server, "enc", x), np.load(DATA / "expected_gcm.npy"))
        assert close_to_mindspore(_infer(server, "ckpt", x), np.load(DATA / "expected_ckpt.npy"))


def test_cli_checkpoint_option() -> None:
    x = np.load(DATA / "input_0.npy")
    with Server(DATA / "net.mindir", "--checkpoint", str(DATA / "weights.ckpt")) as server:
        assert close_to_mindspore(_infer(server, "net", x), np.load(DATA / "expected_ckpt.npy"))
