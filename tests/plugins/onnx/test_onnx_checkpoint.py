"""The onnx plugin with checkpoints and encrypted MindIR: weights of a decrypted model never reach a
temporary file, and `mindinfer convert --checkpoint` writes the checkpoint's weights."""

from __future__ import annotations

from pathlib import Path

import mindinfer_onnx.backend as onnx_backend
import numpy as np
import onnxruntime as ort
import pytest
from mindinfer import Session
from mindinfer.cli import main

DATA = Path(__file__).resolve().parents[2] / "data" / "checkpoints"


def close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert np.max(np.abs(ours - ref)) <= 1e-4 + 1e-3 * np.max(np.abs(ref))


@pytest.mark.parametrize("case,mode", [("net_gcm.mindir", "gcm"), ("split_cbc/net_graph.mindir", "cbc")])
def test_large_decrypted_weights_stay_in_memory(case: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Make every model "too large for protobuf", the case where a plain model goes through a temporary
    # folder with external data: a decrypted one must not.
    monkeypatch.setattr(onnx_backend, "EXTERNAL_DATA_THRESHOLD", 0)

    def no_temp_files(*args: object, **kwargs: object) -> None:
        raise AssertionError("a decrypted model's weights were about to be written to a temporary folder")

    monkeypatch.setattr(onnx_backend.tempfile, "TemporaryDirectory", no_temp_files)
    key = (DATA / f"{mode}.key").read_bytes()
    with Session(DATA / case, target="cpu@onnx", dec_key=key, dec_mode=f"AES-{mode.upper()}") as sess:
        assert sess._exe.keep_alive  # type: ignore[attr-defined]
        (out,) = sess.run([np.load(DATA / "input_0.npy")])
    close(out, np.load(DATA / f"expected_{mode}.npy"))


def test_plain_large_model_still_uses_external_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_backend, "EXTERNAL_DATA_THRESHOLD", 0)
    with Session(DATA / "net.mindir", target="cpu@onnx") as sess:
        assert sess._exe._tmp is not None and sess._exe.keep_alive is None  # type: ignore[attr-defined]
        close(sess.run([np.load(DATA / "input_0.npy")])[0], np.load(DATA / "expected_mindir.npy"))


def test_convert_with_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dst = tmp_path / "net.onnx"
    rc = main(
        ["convert", str(DATA / "net.mindir"), "-o", str(dst), "--checkpoint", str(DATA / "partial.ckpt"), "--no-strict"]
    )
    assert rc == 0
    assert "2 kept the MindIR's values" in capsys.readouterr().err
    sess = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {sess.get_inputs()[0].name: np.load(DATA / "input_0.npy")})
    close(out, np.load(DATA / "expected_partial.npy"))


def test_convert_refuses_encrypted_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(DATA / "net_gcm.mindir"), "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "would write its weights in plain" in err
    assert not (tmp_path / "x.onnx").exists()
