"""``.om`` files open directly: Session("net.om", target="ascend") through the open_foreign_model hook."""

from __future__ import annotations

import json
from pathlib import Path

import mindinfer
import numpy as np
import pytest
from ascend_sim import Sim, assert_close, case
from mindinfer.errors import InvalidOptionError, MindInferError
from mindinfer_ascend._acl import AclError


def _compiled(sim: Sim, name: str) -> Path:
    mindinfer.Session(case(name)[0], target="ascend", plugins=sim.registry).close()
    (om,) = sim.om_files()
    return om


def test_an_om_file_runs_directly_with_its_gears(sim: Sim) -> None:
    om = _compiled(sim, "small_cnn_dynamic_batch")
    _, (x,), (want,) = case("small_cnn_dynamic_batch")
    with mindinfer.Session(om, target="ascend", plugins=sim.registry) as sess:
        assert sess.placement.plugin == "ascend"
        assert [(s.shape, s.dtype) for s in sess.inputs] == [((-1, 3, 32, 32), "float32")]
        assert sess.model.details["gears"] == [1, 2, 4, 8, 16, 32]  # type: ignore[union-attr]
        rows = [1, 0, 1]
        assert_close(sess.run([x[rows]]), [want[rows]])


def test_an_om_file_with_several_inputs_and_outputs(sim: Sim) -> None:
    om = _compiled(sim, "two_in_two_out")
    _, ins, want = case("two_in_two_out")
    with mindinfer.Session(str(om), target="ascend", plugins=sim.registry) as sess:
        assert len(sess.inputs) == 2 and len(sess.outputs) == 2
        assert_close(sess.run(ins), want)


def test_compile_options_do_not_apply_to_an_om(sim: Sim) -> None:
    om = _compiled(sim, "lenet5")
    with pytest.raises(InvalidOptionError, match="already compiled .om"):
        mindinfer.Session(om, target="ascend", options={"precision": "force_fp16"}, plugins=sim.registry)


def test_compile_options_given_at_their_defaults_are_accepted_for_an_om(sim: Sim) -> None:
    # A list equal to the tuple default, the default gears spelled as ATC writes them, or any
    # other option at its default value is not a request to recompile.
    om = _compiled(sim, "small_cnn_dynamic_batch")
    for options in (
        {"batch_sizes": [1, 2, 4, 8, 16, 32]},
        {"batch_sizes": (1, 2, 4, 8, 16, 32), "precision": "auto", "opset": 13, "atc_timeout": 1800.0},
    ):
        with mindinfer.Session(om, target="ascend", options=options, plugins=sim.registry) as sess:
            assert sess.model.details["gears"] == [1, 2, 4, 8, 16, 32]  # type: ignore[union-attr]
    with pytest.raises(InvalidOptionError, match="batch_sizes apply when compiling"):
        mindinfer.Session(om, target="ascend", options={"batch_sizes": [1, 2]}, plugins=sim.registry)


def test_an_om_for_another_chip_is_refused_by_acl(sim: Sim) -> None:
    sim.reset(soc="Ascend310P3")
    om = _compiled(sim, "lenet5")
    sim.reset(soc="Ascend910B3")
    with pytest.raises(AclError, match=r"acl.mdl.load_from_file returned 507008 .*compiled for Ascend310P3"):
        mindinfer.Session(om, target="ascend", plugins=sim.registry)


def test_a_file_that_is_not_an_offline_model(sim: Sim, tmp_path: Path) -> None:
    bad = tmp_path / "net.om"
    bad.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    with pytest.raises(AclError, match="100012"):
        mindinfer.Session(bad, target="ascend", plugins=sim.registry)


def test_an_onnx_file_goes_straight_to_atc(sim: Sim, tmp_path: Path) -> None:
    from mindinfer_onnx import convert_file

    onnx_path = convert_file(case("small_cnn_dynamic_batch")[0], tmp_path / "cnn.onnx", 13)
    registry = sim.registry
    from mindinfer_onnx import plugin as onnx_plugin

    registry.register(onnx_plugin, name="onnx")  # it opens .onnx files (open_foreign_model)
    _, (x,), (want,) = case("small_cnn_dynamic_batch")
    with mindinfer.Session(onnx_path, target="ascend", options={"batch_sizes": [1, 4]}, plugins=registry) as sess:
        assert sess.placement.plugin == "ascend"
        assert_close(sess.run([x[[0, 1, 1]]]), [want[[0, 1, 1]]])
    (om,) = sim.om_files()
    assert om.with_suffix(".json").is_file()


def test_inputs_are_matched_to_the_description_by_name(sim: Sim) -> None:
    from mindinfer_ascend.model import AclModel

    om = _compiled(sim, "two_in_two_out")
    path, ins, want = case("two_in_two_out")
    names = [s.name for s in mindinfer.load(path).inputs]
    model = AclModel(str(om), 0, [(names[1], False), (names[0], False)])  # the caller's order is reversed
    try:
        assert [t.name for t in model.inputs] == [names[1], names[0]]
        assert_close(model.run([ins[1], ins[0]]), want)
    finally:
        model.close()


def _onnx_with_external_weights(folder: Path, value: float, location: str) -> Path:
    """y = x + w with w (2x4, all ``value``) kept in the external-data file ``location``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    for old in folder.iterdir():
        old.unlink()
    w = numpy_helper.from_array(np.full((2, 4), value, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = folder / "m.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location=location, size_threshold=0)
    return path


def test_changed_external_weights_of_an_onnx_file_are_recompiled(sim: Sim, tmp_path: Path) -> None:
    # The weights live in weights.bin (not m.onnx.data): the cache key must still cover them.
    from mindinfer_onnx import plugin as onnx_plugin

    registry = sim.registry
    registry.register(onnx_plugin, name="onnx")
    folder = tmp_path / "model"
    folder.mkdir()
    x = np.zeros((2, 4), np.float32)
    for value in (1.0, 5.0, 1.0):
        path = _onnx_with_external_weights(folder, value, "weights.bin")
        with mindinfer.Session(path, target="ascend", plugins=registry) as sess:
            np.testing.assert_array_equal(sess.run([x])[0], np.full((2, 4), value, np.float32))
    assert len(sim.om_files()) == 2  # the third compile found the first's .om
    metas = [json.loads(om.with_suffix(".json").read_text()) for om in sim.om_files()]
    assert [m["onnx_external_data"] for m in metas] == [["weights.bin"], ["weights.bin"]]


def test_missing_external_weights_are_named(sim: Sim, tmp_path: Path) -> None:
    from mindinfer_onnx import plugin as onnx_plugin

    registry = sim.registry
    registry.register(onnx_plugin, name="onnx")
    path = _onnx_with_external_weights(tmp_path, 1.0, "weights.bin")
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(MindInferError, match=r"keeps weights in weights.bin, which is not a file"):
        mindinfer.Session(path, target="ascend", plugins=registry)
