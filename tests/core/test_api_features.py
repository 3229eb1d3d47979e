"""What users of onnxruntime/OpenVINO expect from the API: bytes, output selection, warmup, and the
errors for a directory, an ONNX file given as MindIR, and lists of Python numbers."""

from __future__ import annotations

from pathlib import Path

import mindinfer as mi
import numpy as np
import pytest
from mindinfer import InvalidInputError, MindIRError, Session
from mindinfer._inputs import check_inputs
from mindinfer.ir import TensorSpec
from mindinfer.testing import null_registry

CASES = Path(__file__).resolve().parents[2] / "conformance" / "mindinfer_conformance" / "cases" / "model"
TWO = CASES / "two_in_two_out" / "model.mindir"
A, B = np.ones((3, 8), np.float32), np.ones((3, 16), np.float32)


def test_load_and_session_from_bytes() -> None:
    data = TWO.read_bytes()
    from_bytes, from_file = mi.load(data), mi.load(TWO)
    assert from_bytes.inputs == from_file.inputs and from_bytes.outputs == from_file.outputs
    assert from_bytes.source == "<bytes>"
    for name, p in from_file.main.params.items():
        np.testing.assert_array_equal(from_bytes.main.params[name].data, p.data)
    with Session(data, target="cpu@cpu") as sess, Session(TWO, target="cpu@cpu") as ref:
        for got, want in zip(sess.run([A, B]), ref.run([A, B])):
            np.testing.assert_array_equal(got, want)
    assert Session(bytearray(data), target="null", plugins=null_registry()).inputs == from_file.inputs


def test_bytes_that_are_not_mindir_are_a_mindir_error() -> None:
    with pytest.raises(MindIRError, match="<bytes>: not a readable MindIR file|<bytes>: parsed, but holds no"):
        mi.load(b"\x12\x34garbage that is not protobuf")
    with pytest.raises(MindIRError, match="<bytes>: the file is empty"):
        Session(b"", target="null", plugins=null_registry())


def test_bytes_with_external_weights_say_to_load_from_the_path(tmp_path: Path) -> None:
    from mindinfer._proto import mind_ir_pb2 as pb

    m = pb.ModelProto()
    m.ParseFromString((CASES / "lenet5" / "model.mindir").read_bytes())
    t = m.graph.parameter[0]
    t.ClearField("raw_data")
    t.external_data.location = "net_variables/data_0"
    t.external_data.offset, t.external_data.length = 0, 4
    with pytest.raises(MindIRError, match="given as bytes.*external file 'net_variables/data_0'.*path instead"):
        mi.load(m.SerializeToString())


def test_run_selects_outputs_by_name_or_returns_a_dict() -> None:
    with Session(TWO, target="cpu@cpu") as sess:
        full = sess.run([A, B])
        assert [s.name for s in sess.outputs] == ["output_0", "output_1"]
        (second,) = sess.run([A, B], ["output_1"])
        np.testing.assert_array_equal(second, full[1])
        swapped = sess.run({"a": A, "b": B}, output_names=["output_1", "output_0"])
        np.testing.assert_array_equal(swapped[0], full[1])
        np.testing.assert_array_equal(swapped[1], full[0])
        as_dict = sess.run([A, B], as_dict=True)
        assert list(as_dict) == ["output_0", "output_1"]
        np.testing.assert_array_equal(as_dict["output_0"], full[0])
        assert list(sess.run([A, B], ["output_1"], as_dict=True)) == ["output_1"]
        with pytest.raises(
            InvalidInputError,
            match=r"no output 'output_2' \(did you mean 'output_.'\?\); its outputs are: output_0, output_1",
        ):
            sess.run([A, B], ["output_2"])


def test_warmup_runs_before_the_first_request() -> None:
    reg = null_registry()
    sess = Session(CASES / "small_cnn_dynamic_batch" / "model.mindir", target="null", plugins=reg)
    exe = reg.backends()[0].compiled[0]  # type: ignore[attr-defined]
    sess.warmup(3)
    assert exe.runs == 3  # type: ignore[attr-defined]
    with Session(TWO, target="cpu@cpu") as real:
        real.warmup()
    sess.close()
    with pytest.raises(mi.MindInferError, match="closed"):
        sess.warmup()


def test_a_directory_given_as_model_is_named_a_directory(tmp_path: Path) -> None:
    with pytest.raises(MindIRError, match="is a directory"):
        Session(tmp_path, target="null", plugins=null_registry())
    with pytest.raises(MindIRError, match="is a directory"):
        mi.load(tmp_path)


def test_an_onnx_file_given_as_mindir_is_named_onnx(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    assert isinstance(onnx.load_from_string(data), onnx.ModelProto)
    disguised = tmp_path / "net.mindir"
    disguised.write_bytes(data)
    with pytest.raises(MindIRError, match=r"net.mindir: this is an ONNX model .*not MindIR.*cpu@onnx.*name it .onnx"):
        mi.load(disguised)
    with pytest.raises(MindIRError, match="this is an ONNX model"):
        Session(disguised, target="null", plugins=null_registry())
    with pytest.raises(MindIRError, match="<bytes>: this is an ONNX model"):
        mi.load(data)


SPEC_F32 = TensorSpec("x", (3,), "float32")
SPEC_I32 = TensorSpec("k", (3,), "int32")
SPEC_BOOL = TensorSpec("m", (3,), "bool")


def test_lists_of_python_numbers_follow_the_array_rules() -> None:
    (f,) = check_inputs([SPEC_F32], [[1.5, 2.0, -3.0]])
    assert f.dtype == np.float32 and f.tolist() == [1.5, 2.0, -3.0]
    (f,) = check_inputs([SPEC_F32], [[1, 2, 3]])  # ints into a float input: as an int array would
    assert f.dtype == np.float32
    (k,) = check_inputs([SPEC_I32], [[1, 2, 3]])
    assert k.dtype == np.int32
    (m,) = check_inputs([SPEC_BOOL], [[True, False, True]])
    assert m.dtype == np.bool_
    # Refused exactly where an array of the list's natural dtype is refused...
    for spec, values in ((SPEC_I32, [1.5, 2.0, 3.0]), (SPEC_BOOL, [1, 0, 1])):
        natural = np.asarray(values)
        with pytest.raises(InvalidInputError, match=f"expected dtype {spec.dtype}, got {natural.dtype}"):
            check_inputs([spec], [natural])
        with pytest.raises(InvalidInputError, match=f"expected dtype {spec.dtype}, got {natural.dtype}"):
            check_inputs([spec], [values])
    # ...and an integer the input's dtype cannot hold is refused, not wrapped around.
    with pytest.raises(InvalidInputError, match=r"the value 3000000000 does not fit in int32"):
        check_inputs([SPEC_I32], [[1, 2, 3_000_000_000]])
    with pytest.raises(InvalidInputError, match="does not convert to a numeric array"):
        check_inputs([SPEC_F32], [["a", "b", "c"]])
