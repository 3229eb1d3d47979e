"""Every non-zero ACL code becomes a MindInferError naming the call, the code and CANN's message;
a failure part-way through loading leaves nothing allocated; unusable devices say exactly why."""

from __future__ import annotations

import mindinfer
import pytest
from ascend_sim import Sim, case
from mindinfer.errors import BackendUnavailableError, InvalidInputError, MindInferError, UnsupportedOpError
from mindinfer_ascend import _acl
from mindinfer_ascend._acl import AclError

pytestmark = pytest.mark.usefixtures("shared_cache")

# (call, code, when it happens): compile-time calls first, then run-time calls.
LOAD_CALLS = [
    ("acl.rt.set_device", 107001),
    ("acl.rt.create_context", 207005),
    ("acl.mdl.load_from_file", 145002),
    ("acl.mdl.get_desc", 100000),
    ("acl.mdl.get_input_dims", 100000),
    ("acl.mdl.get_dynamic_batch", 100000),
    ("acl.rt.malloc", 207001),
    ("acl.mdl.add_dataset_buffer", 100000),
    ("acl.rt.malloc_host", 207001),
]
RUN_CALLS = [
    ("acl.rt.set_context", 200005),
    ("acl.rt.memcpy", 107000),
    ("acl.mdl.set_dynamic_batch_size", 145013),
    ("acl.mdl.execute", 507011),
    ("acl.mdl.get_cur_output_dims", 100000),
]


@pytest.mark.parametrize(("call", "code"), LOAD_CALLS)
def test_a_failing_load_call_raises_and_frees_what_was_allocated(sim: Sim, call: str, code: int) -> None:
    path, _, _ = case("small_cnn_dynamic_batch")
    sim.backend().devices()  # probe first: the probe makes some of these calls too
    # A cached .om that fails to load is rebuilt once (it may be a stale entry): fail that load too.
    times = 2 if call == "acl.mdl.load_from_file" else 1
    sim.acl.sim_fail(call, code, f"simulated driver message for {call}", times=times)
    with pytest.raises(AclError) as info:
        mindinfer.Session(path, target="ascend", plugins=sim.registry)
    err = info.value
    assert (err.call, err.code) == (call, code)
    assert f"{call} returned {code}" in str(err) and f"simulated driver message for {call}" in str(err)
    assert sim.acl.sim_leaks() == []


@pytest.mark.parametrize(("call", "code"), RUN_CALLS)
def test_a_failing_run_call_raises_and_the_model_keeps_working(sim: Sim, call: str, code: int) -> None:
    path, (x,), (want,) = case("small_cnn_dynamic_batch")
    with mindinfer.Session(path, target="ascend", plugins=sim.registry) as sess:
        sim.acl.sim_fail(call, code, "simulated")
        with pytest.raises(AclError, match=rf"{call} returned {code} \(ACL_ERROR_\w+\).*simulated"):
            sess.run([x[:1]])
        (got,) = sess.run([x[:1]])  # the failure consumed, the next run is normal
        assert abs(got - want[:1]).max() < 1e-4


def test_a_failing_release_is_reported_after_releasing_the_rest(sim: Sim) -> None:
    path, _, _ = case("lenet5")
    sess = mindinfer.Session(path, target="ascend", plugins=sim.registry)
    sim.acl.sim_fail("acl.mdl.unload", 100011, "simulated")
    with pytest.raises(MindInferError, match=r"acl.mdl.unload returned 100011"):
        sess.close()
    leaks = sim.acl.sim_leaks()
    assert len(leaks) == 1 and leaks[0].startswith("model ")  # everything else was released
    # Exit finalizes anyway; the simulator notices what was left (CANN: finalize comes last).
    _acl.runtime().shutdown()
    assert any("acl.finalize while resources are alive" in v for v in sim.acl.sim_violations())
    sim.acl.sim_reset()  # a clean simulated process for the fixture's final checks
    sim.monkeypatch.setattr(_acl, "_RUNTIME", _acl.Runtime())


def test_wrong_inputs_to_the_executable_are_invalid_input_errors(sim: Sim) -> None:
    path, ins, _ = case("lenet5")
    backend = sim.backend()
    exe = backend.compile(mindinfer.load(path), sim.device(), {})
    with pytest.raises(InvalidInputError, match="must have shape"):
        exe.run([ins[0][:, :, :4]])
    with pytest.raises(InvalidInputError, match="must be float32"):
        exe.run([ins[0].astype("float64")])
    with pytest.raises(InvalidInputError, match="expected 1 inputs"):
        exe.run([])
    exe.close()


def test_dynamic_dimensions_other_than_the_batch_are_refused(sim: Sim) -> None:
    from mindinfer.ir import Graph, Model, Node, Ref, TensorSpec

    spec = TensorSpec("x", (1, -1), "float32")
    node = Node("relu", "ReLU", [Ref("x")], ["y"], out_specs=[TensorSpec("y", (1, -1), "float32")])
    model = Model(Graph("main", [spec], [Ref("y")], [node], output_specs=[TensorSpec("y", (1, -1), "float32")]))
    with pytest.raises(UnsupportedOpError, match="dynamic beyond its first dimension"):
        sim.backend().compile(model, sim.device(), {})


def test_control_flow_is_not_declared(sim: Sim) -> None:
    path, _, _ = case("branchy_if")
    with pytest.raises(UnsupportedOpError, match="plugin 'ascend' does not support primitive"):
        mindinfer.Session(path, target="ascend", plugins=sim.registry)


def test_no_device(sim: Sim) -> None:
    sim.reset(devices=0)
    (dev,) = sim.backend().devices()
    assert not dev.usable and "no Ascend device found" in dev.reason
    with pytest.raises(BackendUnavailableError, match="no Ascend device found"):
        mindinfer.Session(case("lenet5")[0], target="ascend310", plugins=sim.registry)


def test_driver_error_from_device_count(sim: Sim) -> None:
    sim.acl.sim_fail("acl.rt.get_device_count", 507899, "dmanager: device 0 lost")
    (dev,) = sim.backend().devices()
    assert not dev.usable
    assert "507899 (ACL_ERROR_RT_DRV_INTERNAL_ERROR)" in dev.reason and "dmanager: device 0 lost" in dev.reason


def test_init_failure(sim: Sim) -> None:
    sim.acl.sim_fail("acl.init", 500000, "simulated init failure")
    (dev,) = sim.backend().devices()
    assert not dev.usable and "acl.init returned 500000" in dev.reason


def test_atc_missing_from_path(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mindinfer_ascend.devices.atc_command", lambda: None)
    (dev,) = sim.backend().devices()
    assert dev.chip == "ascend910b" and not dev.usable
    assert "`atc` (CANN's model compiler) is not on PATH" in dev.reason and "set_env.sh" in dev.reason
