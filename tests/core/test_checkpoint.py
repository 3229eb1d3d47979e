"""Checkpoints and encrypted MindIR against MindSpore's own outputs (tests/data/checkpoints, made by
tools/make_checkpoint_cases.py), on cpu and cpu@onnx, plus every bad variant's one-line error."""

from __future__ import annotations

import json
import logging
import pickle
import shutil
from pathlib import Path

import mindinfer as mi
import numpy as np
import pytest
from mindinfer import MindIRError, Session
from mindinfer._checkpoint import CheckpointWarning, read_checkpoint
from mindinfer.cli import main
from mindinfer_conformance.compare import compare, network_tolerance

DATA = Path(__file__).resolve().parents[1] / "data" / "checkpoints"
CASES: dict[str, dict] = json.loads((DATA / "cases.json").read_text())["cases"]


def _onnx_installed() -> bool:
    return "onnx" in {b.name for b in mi.get_registry().backends()}


def kwargs(case: dict) -> dict:
    out: dict = {}
    if "key" in case:
        out["dec_key"] = (DATA / case["key"]).read_bytes()
        out["dec_mode"] = case["mode"]
    if "checkpoint" in case:
        out["checkpoint"] = DATA / case["checkpoint"]
        out["strict"] = case["strict"]
    return out


def assert_network_close(ours: np.ndarray, ref: np.ndarray) -> None:
    """The project's whole-network criterion (one implementation: the conformance suite's)."""
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    result = compare(ours, ref, network_tolerance(ref.dtype))
    assert result.ok, result.message


@pytest.mark.filterwarnings("ignore::mindinfer.CheckpointWarning")
@pytest.mark.parametrize("target", ["cpu@cpu", "cpu@onnx"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_case_matches_mindspore(name: str, target: str) -> None:
    if target.endswith("@onnx") and not _onnx_installed():
        pytest.skip("the mindinfer-onnx plugin is not installed")
    case = CASES[name]
    x = np.load(DATA / "input_0.npy")
    with Session(DATA / case["model"], target=target, **kwargs(case)) as sess:
        (out,) = sess.run([x])
        if "key" in case:
            assert sess.model.encrypted  # type: ignore[union-attr]
    assert_network_close(out, np.load(DATA / f"expected_{name}.npy"))


def test_checkpoints_really_change_the_output() -> None:
    # Guards the cases above against a checkpoint that is silently ignored.
    plain, ckpt = np.load(DATA / "expected_mindir.npy"), np.load(DATA / "expected_ckpt.npy")
    assert np.max(np.abs(plain - ckpt)) > 0.1


def test_report_of_a_training_checkpoint() -> None:
    model = mi.load(DATA / "net.mindir", checkpoint=DATA / "train.ckpt")
    report = model.checkpoint
    assert report is not None and report.format == "ckpt"
    assert report.prefix == "ckpt:backbone."
    assert "bn1.moving_mean" in report.applied and len(report.applied) == len(model.parameters())
    assert "moments.backbone.conv1.weight" in report.training_state and "learning_rate" in report.training_state
    assert report.unused == () and report.kept == ()


def test_strict_false_reports_kept_parameters() -> None:
    with pytest.warns(CheckpointWarning, match="2 kept the MindIR's values: bn2.moving_variance, fc.bias"):
        model = mi.load(DATA / "net.mindir", checkpoint=DATA / "partial.ckpt", strict=False)
    assert model.checkpoint is not None and model.checkpoint.kept == ("bn2.moving_variance", "fc.bias")
    plain = mi.load(DATA / "net.mindir")
    kept = {p.name: p.data for p in plain.parameters()}
    for p in model.parameters():
        if p.name in model.checkpoint.kept:
            assert np.array_equal(p.data, kept[p.name])


def test_unused_entries_are_listed(tmp_path: Path) -> None:
    # A checkpoint with an extra, non-training entry: applied as usual, the extra one reported.
    src = (DATA / "weights.ckpt").read_bytes()
    extra = (DATA / "bad" / "wide.ckpt").read_bytes()  # same names, other shapes: only the renamed one is extra
    from mindinfer._proto import checkpoint_pb2

    msg = checkpoint_pb2.Checkpoint()
    msg.ParseFromString(extra)
    one = checkpoint_pb2.Checkpoint()
    v = one.value.add()
    v.CopyFrom(msg.value[0])
    v.tag = "head.extra_weight"
    path = tmp_path / "extra.ckpt"
    path.write_bytes(src + one.SerializeToString())
    with pytest.warns(CheckpointWarning, match="1 checkpoint entries unused: head.extra_weight"):
        model = mi.load(DATA / "net.mindir", checkpoint=path)
    assert model.checkpoint is not None and model.checkpoint.unused == ("head.extra_weight",)


def test_missing_parameters_error_when_strict() -> None:
    with pytest.raises(
        MindIRError, match=r"partial.ckpt: the checkpoint has no value for 2 parameter\(s\).*strict=False"
    ):
        mi.load(DATA / "net.mindir", checkpoint=DATA / "partial.ckpt")


def test_shape_mismatch_names_parameter_shapes_and_file() -> None:
    with pytest.raises(
        MindIRError, match=r"wide.ckpt: parameter 'fc.weight' has shape \[5, 8\] in the MindIR but \[7, 8\]"
    ):
        mi.load(DATA / "net.mindir", checkpoint=DATA / "bad" / "wide.ckpt")


def test_session_on_a_loaded_model_applies_the_checkpoint_to_a_copy() -> None:
    model = mi.load(DATA / "net.mindir")
    before = {p.name: p.data for p in model.parameters()}
    x = np.load(DATA / "input_0.npy")
    with Session(model, checkpoint=DATA / "weights.safetensors") as sess:
        assert_network_close(sess.run([x])[0], np.load(DATA / "expected_safetensors.npy"))
    assert all(before[p.name] is p.data for p in model.parameters())


def test_safetensors_reader_is_zero_copy_and_agrees_with_the_safetensors_package() -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    fmt, ours, widened = read_checkpoint(DATA / "weights.safetensors")
    assert widened == set()
    theirs = safetensors_numpy.load_file(str(DATA / "weights.safetensors"))
    assert fmt == "safetensors" and sorted(ours) == sorted(theirs)
    for name, arr in ours.items():
        assert np.array_equal(arr, theirs[name]) and arr.dtype == theirs[name].dtype
        assert not arr.flags.owndata and not arr.flags.writeable  # a view of the mapped file


# -- bad variants: one line each ----------------------------------------------------------------------
BAD_MODELS = [
    (
        "bad/net_gcm_truncated.mindir",
        "gcm",
        r"encrypted block 1 \(byte 0\): block of \d+ bytes does not fit the file; it is truncated",
    ),
    (
        "bad/net_gcm_tampered.mindir",
        "gcm",
        "AES-GCM authentication failed: the key is wrong, or the file was tampered with",
    ),
    ("bad/net_cbc_truncated.mindir", "cbc", "does not fit the file; it is truncated"),
    ("bad/net_cbc_tampered.mindir", "cbc", "AES-CBC padding is invalid after decryption"),
    (
        "bad/split_gcm_tampered/net_graph.mindir",
        "gcm",
        r"weight file data_0: encrypted block \d+ .*AES-GCM authentication failed",
    ),
    ("bad/split_gcm_truncated/net_graph.mindir", "gcm", r"weight file data_0: encrypted block \d+ .*truncated"),
    (
        "bad/split_cbc_tampered/net_graph.mindir",
        "cbc",
        r"weight file data_0: encrypted block \d+ .*AES-CBC padding is invalid",
    ),
    ("bad/split_cbc_truncated/net_graph.mindir", "cbc", r"weight file data_0: encrypted block \d+ .*truncated"),
]


def _one_line_error(call, pattern: str) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(MindIRError, match=pattern) as info:
        call()
    text = str(info.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("path,key,pattern", BAD_MODELS, ids=[b[0] for b in BAD_MODELS])
def test_bad_encrypted_file(path: str, key: str, pattern: str) -> None:
    mode = {"gcm": "AES-GCM", "cbc": "AES-CBC"}[key]
    _one_line_error(lambda: mi.load(DATA / path, dec_key=(DATA / f"{key}.key").read_bytes(), dec_mode=mode), pattern)


BAD_CHECKPOINTS = [
    ("bad/weights_truncated.ckpt", "not a readable MindSpore checkpoint|truncated or corrupt"),
    (
        "bad/weights_truncated.safetensors",
        r"data_offsets \[\d+, \d+\] fall outside the \d+ data bytes; the file is truncated",
    ),
    ("bad/weights_header.safetensors", "safetensors header is not valid JSON|lacks dtype"),
    ("bad/weights_crc_tampered.ckpt", "CRC-32 check failed .* the checkpoint is damaged or was modified"),
    ("bad/weights_crc_tampered.safetensors", "CRC-32 check failed .* the checkpoint is damaged or was modified"),
    ("bad/wide.ckpt", r"parameter 'fc.weight' has shape \[5, 8\] in the MindIR but \[7, 8\]"),
    ("partial.ckpt", "the checkpoint has no value for 2 parameter"),
]


@pytest.mark.parametrize("path,pattern", BAD_CHECKPOINTS, ids=[b[0] for b in BAD_CHECKPOINTS])
def test_bad_checkpoint(path: str, pattern: str) -> None:
    text = _one_line_error(lambda: mi.load(DATA / "net.mindir", checkpoint=DATA / path), pattern)
    assert path.rpartition("/")[2] in text


def test_wrong_key() -> None:
    wrong = bytes(16)
    _one_line_error(
        lambda: mi.load(DATA / "net_gcm.mindir", dec_key=wrong), "AES-GCM authentication failed: the key is wrong"
    )
    wrong32 = bytes(32)
    _one_line_error(
        lambda: mi.load(DATA / "net_cbc.mindir", dec_key=wrong32, dec_mode="AES-CBC"),
        "AES-CBC padding is invalid after decryption: the key is wrong|key or mode may be wrong",
    )


def test_wrong_mode_no_key_plain_file_bad_key() -> None:
    key = (DATA / "gcm.key").read_bytes()
    _one_line_error(
        lambda: mi.load(DATA / "net_gcm.mindir", dec_key=key, dec_mode="AES-CBC"),
        "encrypted with AES-GCM, but dec_mode is AES-CBC; pass dec_mode='AES-GCM'",
    )
    _one_line_error(lambda: mi.load(DATA / "net_gcm.mindir"), r"encrypted \(AES-GCM\); pass its key.*--dec-key-file")
    _one_line_error(lambda: mi.load(DATA / "net.mindir", dec_key=key), "a key was given but the file is not encrypted")
    _one_line_error(lambda: mi.load(DATA / "net_gcm.mindir", dec_key=key[:10]), "dec_key has 10 bytes")
    _one_line_error(lambda: mi.load(DATA / "net_gcm.mindir", dec_key="text"), "dec_key must be bytes")  # type: ignore[arg-type]
    _one_line_error(lambda: mi.load(DATA / "net_gcm.mindir", dec_key=key, dec_mode="SM4-CBC"), "dec_mode 'SM4-CBC'")


def test_key_never_shown(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    key = (DATA / "gcm.key").read_bytes()
    caplog.set_level(logging.DEBUG)
    texts = []
    with Session(DATA / "net_gcm.mindir", dec_key=key) as sess:
        texts += [repr(sess), str(sess.placement), repr(sess.placement), repr(sess.model.main)[:100000]]
    for bad in (bytes(16), key[:8]):
        try:
            mi.load(DATA / "net_gcm.mindir", dec_key=bad)
        except MindIRError as exc:
            texts.append(str(exc))
    from mindinfer._decrypt import make_key

    k = make_key(key, "AES-GCM")
    texts += [repr(k), str(k), caplog.text, *capsys.readouterr()]
    with pytest.raises(TypeError):
        pickle.dumps(k)
    for form in (key.hex(), repr(key)[2:-1], key.decode("latin-1")):
        assert not any(form in t for t in texts)


def test_nothing_decrypted_reaches_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The split layout's weight files are decrypted in memory; the folder stays as it was.
    case = tmp_path / "split"
    shutil.copytree(DATA / "split_gcm", case)
    before = {p: p.read_bytes() for p in case.rglob("*") if p.is_file()}
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    with Session(case / "net_graph.mindir", dec_key=(DATA / "gcm.key").read_bytes()) as sess:
        sess.run([np.load(DATA / "input_0.npy")])
    assert {p: p.read_bytes() for p in case.rglob("*") if p.is_file()} == before
    # The weights are read-only views of the one decrypted buffer, as mapped files' are.
    model = mi.load(case / "net_graph.mindir", dec_key=(DATA / "gcm.key").read_bytes())
    assert all(not p.data.flags.writeable and not p.data.flags.owndata for p in model.parameters())
    assert not any((tmp_path / "tmp").iterdir())


# -- command line -------------------------------------------------------------------------------------
def test_cli_run_encrypted_and_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = str(DATA / "input_0.npy")
    rc = main(["run", str(DATA / "net_cbc.mindir"), "--dec-key-file", str(DATA / "cbc.key"), "--dec-mode", "AES-CBC",
               "-i", f"x={x}", "--output-dir", str(tmp_path / "a")])  # fmt: skip
    assert rc == 0
    assert_network_close(np.load(tmp_path / "a" / "output_0.npy"), np.load(DATA / "expected_cbc.npy"))
    rc = main(["run", str(DATA / "net.mindir"), "--checkpoint", str(DATA / "partial.ckpt"), "--no-strict",
               "-i", f"x={x}", "--output-dir", str(tmp_path / "b")])  # fmt: skip
    assert rc == 0
    assert_network_close(np.load(tmp_path / "b" / "output_0.npy"), np.load(DATA / "expected_partial.npy"))
    out = capsys.readouterr()
    assert "checkpoint: 11 parameter(s)" in out.out and "2 kept the MindIR's values" in out.out
    assert (DATA / "cbc.key").read_bytes().hex() not in out.out + out.err


def test_cli_bad_inputs_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(DATA / "net_gcm.mindir")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--dec-key-file" in err
    assert main(["bench", str(DATA / "net.mindir"), "--checkpoint", str(DATA / "bad" / "wide.ckpt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fc.weight" in err
    assert main(["run", str(DATA / "net_gcm.mindir"), "--dec-key-file", str(DATA / "missing.key")]) == 2
    assert "cannot read it" in capsys.readouterr().err


def test_missing_empty_and_encrypted_checkpoint_files(tmp_path: Path) -> None:
    net = DATA / "net.mindir"
    _one_line_error(lambda: mi.load(net, checkpoint=tmp_path / "none.ckpt"), "none.ckpt: no such checkpoint file")
    _one_line_error(lambda: mi.load(net, checkpoint=tmp_path), "is a directory; give the path of the .ckpt")
    (tmp_path / "empty.ckpt").write_bytes(b"")
    _one_line_error(
        lambda: mi.load(net, checkpoint=tmp_path / "empty.ckpt"), "empty.ckpt: the checkpoint file is empty"
    )
    # MindSpore's checkpoint encryption writes the same block stream as export's.
    shutil.copy(DATA / "net_gcm.mindir", tmp_path / "enc.ckpt")
    _one_line_error(lambda: mi.load(net, checkpoint=tmp_path / "enc.ckpt"), r"this checkpoint is encrypted \(AES-GCM\)")


def test_prefix_matching_on_either_side() -> None:
    from mindinfer._checkpoint import _match

    arr = np.zeros(1)
    ckpt = {"network.backbone.a.w": arr, "network.backbone.b.w": arr, "moments.network.backbone.a.w": arr}
    assert _match(["a.w", "b.w"], ckpt) == (
        {"a.w": "network.backbone.a.w", "b.w": "network.backbone.b.w"},
        "ckpt:network.backbone.",
    )
    graph = ["net.a.w", "net.b.w", "net.c.w"]
    assert _match(graph, {"a.w": arr, "b.w": arr}) == ({"net.a.w": "a.w", "net.b.w": "b.w"}, "graph:net.")
    # Exact names win; the prefix only serves the rest.
    assert _match(["a.w", "b.w"], {"a.w": arr, "x.b.w": arr})[0] == {"a.w": "a.w", "b.w": "x.b.w"}


@pytest.mark.parametrize("stored,code", [("Float16", "float16"), ("BFloat16", "bfloat16")])
def test_dtype_mismatch_names_both_dtypes(tmp_path: Path, stored: str, code: str) -> None:
    from mindinfer._proto import checkpoint_pb2

    msg = checkpoint_pb2.Checkpoint()
    msg.ParseFromString((DATA / "weights.ckpt").read_bytes())
    entry = next(v for v in msg.value if v.tag == "fc.weight")
    f32 = np.frombuffer(entry.tensor.tensor_content, np.float32)
    entry.tensor.tensor_type = stored
    if stored == "Float16":
        entry.tensor.tensor_content = f32.astype(np.float16).tobytes()
    else:  # bfloat16: the upper half of each float32
        entry.tensor.tensor_content = (f32.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    path = tmp_path / f"{code}.ckpt"
    path.write_bytes(msg.SerializeToString())
    _, tensors, widened = read_checkpoint(path)
    if stored == "BFloat16":  # read back widened, exactly the truncated float32 values
        assert widened == {"fc.weight"} and tensors["fc.weight"].dtype == np.float32
        assert np.array_equal(tensors["fc.weight"].ravel().view(np.uint32), f32.view(np.uint32) & 0xFFFF0000)
    _one_line_error(
        lambda: mi.load(DATA / "net.mindir", checkpoint=path),
        f"parameter 'fc.weight' is float32 in the MindIR but {code} in the checkpoint",
    )


def test_without_the_crypto_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    for name in [m for m in sys.modules if m == "cryptography" or m.startswith("cryptography.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cryptography", None)  # what an environment without it gives
    _one_line_error(
        lambda: mi.load(DATA / "net_gcm.mindir", dec_key=(DATA / "gcm.key").read_bytes()),
        r"this model is encrypted \(AES-GCM\); decrypting it needs pip install 'mindinfer\[crypto\]'",
    )


@pytest.mark.filterwarnings("ignore::mindinfer.CheckpointWarning")
@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if "checkpoint" in c and "key" not in c))
def test_a_checkpoint_on_a_loaded_model_is_applied_as_at_load(name: str) -> None:
    # load(path, checkpoint=) and Session(load(path), checkpoint=) match the same stored parameters.
    case = CASES[name]
    path, ckpt = DATA / case["model"], DATA / case["checkpoint"]
    at_load = mi.load(path, checkpoint=ckpt, strict=case["strict"])
    with Session(mi.load(path), target="cpu@cpu", checkpoint=ckpt, strict=case["strict"]) as sess:
        assert sess.model.checkpoint == at_load.checkpoint  # type: ignore[union-attr]
        (out,) = sess.run([np.load(DATA / "input_0.npy")])
    assert_network_close(out, np.load(DATA / f"expected_{name}.npy"))


@pytest.mark.filterwarnings("ignore::mindinfer.CheckpointWarning")
def test_a_checkpoint_on_a_loaded_bfloat16_model_is_matched_against_the_stored_dtype(tmp_path: Path) -> None:
    # fc.weight stored as bfloat16 in the MindIR (the loader widens it to float32): a bfloat16
    # checkpoint fits it, whether given to load() or to a Session over the loaded model.
    from mindinfer._proto import checkpoint_pb2, mind_ir_pb2

    model = mind_ir_pb2.ModelProto()
    model.ParseFromString((DATA / "net.mindir").read_bytes())
    t = next(t for t in model.graph.parameter if t.name.endswith(":fc.weight"))
    t.data_type = mind_ir_pb2.TensorProto.BFLOAT16
    t.raw_data = (np.frombuffer(t.raw_data, np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
    (tmp_path / "net.mindir").write_bytes(model.SerializeToString())
    ckpt = checkpoint_pb2.Checkpoint()
    ckpt.ParseFromString((DATA / "weights.ckpt").read_bytes())
    entry = next(v for v in ckpt.value if v.tag == "fc.weight")
    entry.tensor.tensor_type = "BFloat16"
    f32 = np.frombuffer(entry.tensor.tensor_content, np.float32)
    entry.tensor.tensor_content = (f32.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    (tmp_path / "bf16.ckpt").write_bytes(ckpt.SerializeToString())
    at_load = mi.load(tmp_path / "net.mindir", checkpoint=tmp_path / "bf16.ckpt")
    with Session(mi.load(tmp_path / "net.mindir"), target="cpu@cpu", checkpoint=tmp_path / "bf16.ckpt") as sess:
        assert sess.model.checkpoint == at_load.checkpoint  # type: ignore[union-attr]
