"""The onnx backend through mindinfer's Session: targets, .onnx files, options, devices, errors."""

from __future__ import annotations

from pathlib import Path

import mindinfer
import numpy as np
import onnxruntime as ort
import pytest
from mindinfer.errors import InvalidInputError, InvalidOptionError, MindInferError
from mindinfer_onnx import _providers, convert_file
from mindinfer_onnx.backend import OnnxBackend
from onnx_cases import MODEL_CASES, assert_matches, inputs, outputs


def _case(name: str) -> Path:
    return next(p for p in MODEL_CASES if p.name == name)


def test_session_runs_a_mindir_on_cpu_at_onnx() -> None:
    folder = _case("mlp_layernorm_gelu")
    sess = mindinfer.Session(folder / "model.mindir", target="cpu@onnx", options={"threads": 1})
    assert sess.placement.plugin == "onnx"
    assert_matches(sess.run(inputs(folder)), outputs(folder), 1e-4, 1e-5, folder.name)


def test_session_accepts_a_converted_onnx_file(tmp_path: Path) -> None:
    folder = _case("small_cnn_dynamic_batch")
    path = convert_file(folder / "model.mindir", tmp_path / "cnn.onnx")
    sess = mindinfer.Session(str(path), target="cpu@onnx")
    assert [s.shape for s in sess.inputs] == [(-1, 3, 32, 32)]
    assert sess.inputs[0].dtype == "float32"
    (x,), (want,) = inputs(folder), outputs(folder)
    assert_matches(sess.run({sess.inputs[0].name: x}), [want], 1e-4, 1e-5, "onnx file")
    (one,) = sess.run([x[1:2]])
    np.testing.assert_allclose(one, want[1:2], rtol=1e-4, atol=1e-5)


def test_wrong_input_shape_is_an_invalid_input_error(tmp_path: Path) -> None:
    folder = _case("small_cnn_dynamic_batch")
    sess = mindinfer.Session(folder / "model.mindir", target="cpu@onnx")
    with pytest.raises(InvalidInputError):
        sess.run([np.zeros((2, 4, 32, 32), np.float32)])
    # Past the session's own checks, onnxruntime's refusal is mapped too (no raw ORT exception).
    exe = sess._exe
    with pytest.raises(InvalidInputError, match="onnxruntime rejected the inputs"):
        exe.run([np.zeros((2, 4, 32, 32), np.float32)])


def test_a_file_that_is_not_onnx_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00not a protobuf at all\xff" * 10)
    with pytest.raises(MindInferError, match="broken.onnx"):
        mindinfer.Session(str(bad), target="cpu@onnx")


def test_unknown_option_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="fast"):
        mindinfer.Session(_case("lenet5") / "model.mindir", target="cpu@onnx", options={"fast": True})
    with pytest.raises(InvalidOptionError, match="threads"):
        mindinfer.Session(_case("lenet5") / "model.mindir", target="cpu@onnx", options={"threads": 0})


def test_threads_option_reaches_onnxruntime(backend: OnnxBackend, cpu_device: mindinfer.Device) -> None:
    exe = backend.compile(mindinfer.load(_case("lenet5") / "model.mindir"), cpu_device, {"threads": 1})
    assert exe.session.get_session_options().intra_op_num_threads == 1
    assert exe.session.get_session_options().graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert exe.thread_safe
    exe.close()
    with pytest.raises(MindInferError, match="closed"):
        exe.run(inputs(_case("lenet5")))


def test_devices_report_the_working_cpu_provider(backend: OnnxBackend) -> None:
    cpu = [d for d in backend.devices() if d.kind == "cpu"]
    assert len(cpu) == 1 and cpu[0].usable
    assert cpu[0].details["provider"] == "CPUExecutionProvider"


def test_a_listed_gpu_provider_that_does_not_work_is_reported_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ort.get_available_providers()
    if "CUDAExecutionProvider" in real:
        pytest.skip("this onnxruntime really has CUDA; the probe is exercised for real")
    # A CUDA build on a machine without CUDA lists the provider; onnxruntime then falls back to CPU.
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", *real])
    _providers.probe.cache_clear()
    try:
        backend = OnnxBackend()
        assert "gpu" in backend.device_kinds
        gpu = [d for d in backend.devices() if d.kind == "gpu"]
        assert len(gpu) == 1 and not gpu[0].usable
        assert "CUDAExecutionProvider" in gpu[0].name and gpu[0].reason
        with pytest.raises(mindinfer.BackendUnavailableError, match="not usable"):
            backend.compile(mindinfer.load(_case("lenet5") / "model.mindir"), gpu[0], {})
    finally:
        _providers.probe.cache_clear()


def test_gpu_kind_only_when_onnxruntime_lists_a_gpu_provider(backend: OnnxBackend) -> None:
    has_gpu = bool(set(ort.get_available_providers()) & {"CUDAExecutionProvider", "TensorrtExecutionProvider"})
    assert ("gpu" in backend.device_kinds) == has_gpu


def test_capabilities_declare_onnx_files_and_control_flow(backend: OnnxBackend) -> None:
    caps = backend.capabilities
    assert caps.formats == frozenset({"mindir", "onnx"})
    assert caps.control_flow and caps.dynamic_shapes
    assert {"Conv2D", "MatMul", "LayerNorm", "InplaceAddExt"} <= caps.primitives
