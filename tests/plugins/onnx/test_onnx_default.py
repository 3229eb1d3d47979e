"""The onnx plugin as the default for a bare ``cpu`` target, and what registering it costs.

With onnxruntime installed the onnx plugin ranks first for ``cpu``; a model its converter refuses
runs on the native plugin, with the refusal recorded; ``cpu@cpu`` and ``cpu@onnx`` pin either.
Registering the plugin and listing devices imports neither onnx nor onnxruntime's Python package
beyond what listing devices needs.
"""

from __future__ import annotations

import json
import subprocess
import sys

import mindinfer
import numpy as np
import pytest
from mindinfer import Session, UnsupportedOpError
from mindinfer.ir import Const, Graph, Model, Node, Ref, TensorSpec
from mindinfer_onnx import _onnx_pb, _providers
from onnx_cases import MODEL_CASES, assert_matches, inputs, outputs

LENET = next(p for p in MODEL_CASES if p.name == "lenet5")


def _cumprod_model(n: int) -> Model:
    """CumProd along an axis longer than the converter unrolls: the cpu plugin runs it, onnx refuses."""
    spec = TensorSpec("x", (2, n), "float32")
    node = Node("cp", "CumProd", [Ref("x"), Const(1)], ["y"], out_specs=[TensorSpec("y", (2, n), "float32")])
    return Model(Graph("main", [spec], [Ref("y")], [node], output_specs=[TensorSpec("y", (2, n), "float32")]), {})


def test_bare_cpu_is_the_onnx_plugin_and_matches_mindspore() -> None:
    with Session(LENET / "model.mindir", target="cpu") as sess:
        assert sess.placement.plugin == "onnx" and not sess.placement.fallbacks
        assert "highest-priority" in sess.placement.reason
        assert_matches(sess.run(inputs(LENET)), outputs(LENET), 1e-4, 1e-5, "lenet5 on bare cpu")
    with Session(LENET / "model.mindir", target="cpu@cpu") as pinned:
        assert pinned.placement.plugin == "cpu"


def test_a_model_the_converter_refuses_runs_on_the_native_plugin_and_says_so() -> None:
    model = _cumprod_model(300)
    with pytest.raises(UnsupportedOpError, match="CumProd along an axis of 300"):
        Session(model, target="cpu@onnx")  # pinned: never moves
    sess = Session(model, target="cpu")
    p = sess.placement
    assert p.plugin == "cpu" and [(a.target, a.plugin) for a in p.fallbacks] == [("cpu", "onnx")]
    assert "CumProd along an axis of 300" in p.fallbacks[0].reason and "refused by plugin(s) 'onnx'" in p.reason
    x = np.linspace(0.99, 1.01, 600, dtype=np.float32).reshape(2, 300)
    np.testing.assert_allclose(sess.run([x])[0], np.cumprod(x.astype(np.float64), axis=1), rtol=1e-5)


def test_without_onnxruntime_bare_cpu_is_the_native_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stands in for an environment without onnxruntime: the plugin's own check reports it missing.
    monkeypatch.setattr(_providers, "missing_runtime", lambda: "onnxruntime is not installed; pip install onnxruntime")
    registry = mindinfer.PluginRegistry()
    (device,) = next(b for b in registry.backends() if b.name == "onnx").devices()
    assert not device.usable and "pip install onnxruntime" in device.reason
    with Session(LENET / "model.mindir", target="cpu", plugins=registry) as sess:
        assert sess.placement.plugin == "cpu" and not sess.placement.fallbacks
    with pytest.raises(mindinfer.BackendUnavailableError, match="onnxruntime is not installed"):
        Session(LENET / "model.mindir", target="cpu@onnx", plugins=registry)


def _imports_after(code: str) -> dict[str, bool]:
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps({m: m in sys.modules for m in ('onnx', 'onnxruntime', 'ml_dtypes', 'mindinfer_onnx._onnx_ml_pb2')}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_registering_and_pinned_sessions_import_neither_onnx_nor_onnxruntime() -> None:
    registered = _imports_after("import mindinfer; mindinfer.get_registry().backends()")
    assert registered == {"onnx": False, "onnxruntime": False, "ml_dtypes": False, "mindinfer_onnx._onnx_ml_pb2": False}
    pinned = _imports_after(
        f"import mindinfer, numpy as np; s = mindinfer.Session({str(LENET / 'model.mindir')!r}, target='cpu@cpu'); "
        "s.run([np.zeros((2, 1, 32, 32), np.float32)])"
    )
    assert not pinned["onnx"] and not pinned["onnxruntime"]


def test_listing_devices_and_an_onnx_session_do_not_import_the_onnx_package() -> None:
    listed = _imports_after("import mindinfer; mindinfer.list_devices()")
    assert listed["onnxruntime"] and not listed["onnx"] and not listed["ml_dtypes"]
    ran = _imports_after(
        f"import mindinfer, numpy as np; s = mindinfer.Session({str(LENET / 'model.mindir')!r}, target='cpu@onnx'); "
        "s.run([np.zeros((2, 1, 32, 32), np.float32)])"
    )
    assert ran["onnxruntime"] and ran["mindinfer_onnx._onnx_ml_pb2"] and not ran["onnx"] and not ran["ml_dtypes"]


def test_the_lightweight_builders_write_what_onnx_helper_writes() -> None:
    import onnx
    from onnx import helper, numpy_helper

    attrs = {"i": 3, "f": 0.5, "s": "same", "ints": [1, 2], "floats": [0.5, 1.0], "strings": ["a", "b"]}
    for key, value in attrs.items():
        ours = _onnx_pb.make_node("Op", ["x"], ["y"], name="n", **{key: value})
        theirs = helper.make_node("Op", ["x"], ["y"], name="n", **{key: value})
        assert ours.SerializeToString() == theirs.SerializeToString(), key
    for dtype in ("float32", "float16", "float64", "int8", "int32", "int64", "uint8", "bool"):
        array = (np.arange(6) % 3).astype(dtype).reshape(2, 3)
        ours_t, theirs_t = _onnx_pb.from_array(array, "t"), numpy_helper.from_array(array, "t")
        np.testing.assert_array_equal(numpy_helper.to_array(ours_t), numpy_helper.to_array(theirs_t))
        assert ours_t.data_type == theirs_t.data_type == helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        assert _onnx_pb.tensor_dtype_to_np_dtype(ours_t.data_type) == dtype
    for shape in (None, [], [2, "batch", None]):
        ours_v = _onnx_pb.make_tensor_value_info("v", 1, shape)
        theirs_v = helper.make_tensor_value_info("v", 1, shape)
        assert ours_v.SerializeToString() == theirs_v.SerializeToString(), shape
    for opset in range(13, 22):
        assert _onnx_pb.min_ir_version(opset) == helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    model = mindinfer.load(LENET / "model.mindir")
    from mindinfer_onnx import convert

    proto = convert(model)
    assert isinstance(proto, onnx.ModelProto)
    onnx.checker.check_model(proto, full_check=True)
