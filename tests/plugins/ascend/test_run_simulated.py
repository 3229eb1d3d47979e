"""The plugin's whole lifecycle on the simulated device, checked against MindSpore's own outputs.

Every test runs with the ACL and ATC simulators (see conftest): compile (MindIR -> ONNX -> simulated
atc -> .om), load, run, close, and after each test the simulator confirms that nothing leaked and no
CANN rule was broken.
"""

from __future__ import annotations

import threading

import mindinfer
import numpy as np
import pytest
from ascend_sim import Sim, assert_close, case
from mindinfer.errors import InvalidInputError, MindInferError
from mindinfer_ascend.testing import simulated_om


def _header(sim: Sim) -> dict:  # type: ignore[type-arg]
    (om,) = sim.om_files()
    parsed = simulated_om.read(om)
    assert parsed is not None
    return parsed[0]


@pytest.mark.parametrize("name", ["lenet5", "small_cnn_bn", "transformer_block"])
def test_fp32_models_match_mindspore_on_910b(sim: Sim, name: str) -> None:
    path, ins, want = case(name)
    with mindinfer.Session(path, target="ascend", plugins=sim.registry) as sess:
        assert sess.placement.plugin == "ascend"
        assert sess.placement.device.chip == "ascend910b"
        assert_close(sess.run(ins), want)
    header = _header(sim)
    assert header["precision_mode"] == "must_keep_origin_dtype"
    assert "--precision_mode=must_keep_origin_dtype" in header["argv"]


def test_several_inputs_and_outputs(sim: Sim) -> None:
    path, ins, want = case("two_in_two_out")
    assert len(ins) == 2 and len(want) == 2
    with mindinfer.Session(path, target="ascend", plugins=sim.registry) as sess:
        assert_close(sess.run(ins), want)
        names = [s.name for s in sess.inputs]
        assert_close(sess.run(dict(zip(names, ins))), want)
    shapes = _header(sim)["inputs"]
    assert [s["name"] for s in shapes] == names


def test_dynamic_batch_pads_to_the_nearest_gear_and_slices(sim: Sim) -> None:
    path, (x,), (want,) = case("small_cnn_dynamic_batch")  # MindSpore's output for a batch of 2
    assert x.shape[0] == 2
    with mindinfer.Session(path, target="ascend", plugins=sim.registry) as sess:
        assert_close(sess.run([x]), [want])  # a gear exactly
        assert_close(sess.run([x[1:2]]), [want[1:2]])
        rows = [0, 1, 0]
        (got,) = sess.run([x[rows]])  # 3 rows run at gear 4, sliced back to 3
        assert_close([got], [want[rows]])
    header = _header(sim)
    assert header["batch_sizes"] == [1, 2, 4, 8, 16, 32]
    assert header["inputs"][0]["shape"] == [-1, 3, 32, 32]
    assert "--dynamic_batch_size=1,2,4,8,16,32" in header["argv"]


def test_a_batch_beyond_the_largest_gear_is_split(sim: Sim) -> None:
    path, (x,), (want,) = case("small_cnn_dynamic_batch")
    rows = [0, 1, 1, 0, 1]
    with mindinfer.Session(path, target="ascend", options={"batch_sizes": "2,1"}, plugins=sim.registry) as sess:
        calls_before = sim.acl.sim_calls().count("acl.mdl.execute")
        (got,) = sess.run([x[rows]])
        runs = sim.acl.sim_calls().count("acl.mdl.execute") - calls_before
    assert_close([got], [want[rows]])
    assert runs == 3  # 2 + 2 + 1 rows, each run at a gear
    assert _header(sim)["batch_sizes"] == [1, 2]


@pytest.mark.usefixtures("shared_cache")
def test_an_empty_batch_is_refused(sim: Sim) -> None:
    path, (x,), _ = case("small_cnn_dynamic_batch")
    with (
        mindinfer.Session(path, target="ascend", plugins=sim.registry) as sess,
        pytest.raises(InvalidInputError, match="batch of 0"),
    ):
        sess.run([x[:0]])


@pytest.mark.usefixtures("shared_cache")
def test_runs_from_many_threads_each_making_the_context_current(sim: Sim) -> None:
    path, (x,), (want,) = case("small_cnn_dynamic_batch")
    sess = mindinfer.Session(path, target="ascend", plugins=sim.registry)
    errors: list[BaseException] = []
    results: list[np.ndarray] = []

    def work(k: int) -> None:
        try:
            for _ in range(3):
                results.append(sess.run([x[k % 2 : k % 2 + 1]])[0] - want[k % 2 : k % 2 + 1])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    sess.close()
    assert errors == []
    assert len(results) == 12 and max(float(np.abs(r).max()) for r in results) < 1e-4
    # The simulator refuses memory and execute calls in a thread without a current context, so the
    # runs above passing means every worker thread set it; and set_context was called per run.
    assert sim.acl.sim_calls().count("acl.rt.set_context") >= 12


@pytest.mark.usefixtures("shared_cache")
def test_close_releases_every_handle_and_buffer(sim: Sim) -> None:
    path, ins, _want = case("two_in_two_out")
    sess = mindinfer.Session(path, target="ascend", plugins=sim.registry)
    sess.run(ins)
    assert sim.acl.sim_leaks() != []  # buffers, datasets, the model and the context are alive
    sess.close()
    sess.close()  # idempotent
    assert sim.acl.sim_leaks() == []
    with pytest.raises(MindInferError, match="closed"):
        sess.run(ins)


@pytest.mark.usefixtures("shared_cache")
def test_exit_closes_what_the_user_left_open_then_finalizes(sim: Sim) -> None:
    from mindinfer_ascend import _acl

    path, ins, _ = case("lenet5")
    sess = mindinfer.Session(path, target="ascend", plugins=sim.registry)
    sess.run(ins)
    _acl.runtime().shutdown()  # atexit's call
    assert sim.acl.sim_leaks() == []
    assert sim.acl.sim_state()["initialized"] is False
    assert sim.acl.sim_calls()[-1] == "acl.finalize"
    assert sim.acl.sim_calls().count("acl.init") == 1


@pytest.mark.usefixtures("shared_cache")
def test_one_init_and_one_context_for_many_models(sim: Sim) -> None:
    sessions = [
        mindinfer.Session(case(n)[0], target="ascend", plugins=sim.registry) for n in ("lenet5", "two_in_two_out")
    ]
    calls = sim.acl.sim_calls()
    assert calls.count("acl.init") == 1
    assert calls.count("acl.rt.create_context") == 1 + 1  # the device probe's, then the models' shared one
    for s in sessions:
        s.close()


def test_default_precision_on_310p_lowers_only_what_the_chip_must(sim: Sim) -> None:
    sim.reset(soc="Ascend310P3")
    path, ins, want = case("small_cnn_bn")
    with mindinfer.Session(path, target="ascend310p", plugins=sim.registry) as sess:
        got = sess.run(ins)
    assert _header(sim)["precision_mode"] == "allow_fp32_to_fp16"
    # fp16 storage: no longer within fp32 tolerance, but within fp16's
    assert not np.allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    assert_close(got, want, rtol=2e-2, atol=2e-2)


def test_option_precision_chooses_the_mode(sim: Sim) -> None:
    sim.reset(soc="Ascend310P3")
    path, ins, want = case("lenet5")
    opts = {"precision": "must_keep_origin_dtype"}
    with mindinfer.Session(path, target="ascend", options=opts, plugins=sim.registry) as sess:
        assert_close(sess.run(ins), want)
    assert _header(sim)["precision_mode"] == "must_keep_origin_dtype"


@pytest.mark.usefixtures("shared_cache")
def test_two_devices_each_with_its_own_context(sim: Sim) -> None:
    sim.reset(devices=2)
    path, ins, want = case("lenet5")
    s0 = mindinfer.Session(path, target="ascend:0", plugins=sim.registry)
    s1 = mindinfer.Session(path, target="ascend:1", plugins=sim.registry)
    assert (s0.placement.device.index, s1.placement.device.index) == (0, 1)
    assert_close(s0.run(ins), want)
    assert_close(s1.run(ins), want)
    s0.close()
    s1.close()


@pytest.mark.usefixtures("shared_cache")
def test_on_the_board_itself_copies_are_device_to_device(sim: Sim) -> None:
    sim.reset(soc="Ascend310B1", run_mode=0)  # ACL_DEVICE: e.g. an Atlas 200I A2 running this program
    path, ins, want = case("two_in_two_out")
    with mindinfer.Session(
        path, target="ascend310b", options={"precision": "must_keep_origin_dtype"}, plugins=sim.registry
    ) as sess:
        assert_close(sess.run(ins), want)


@pytest.mark.usefixtures("shared_cache")
def test_older_pyacl_without_bytes_to_ptr(sim: Sim) -> None:
    sim.reset(legacy_util=True)  # acl.util has numpy_to_ptr / ptr_to_numpy only (CANN 5.x)
    path, (x,), (want,) = case("small_cnn_dynamic_batch")
    with mindinfer.Session(path, target="ascend", plugins=sim.registry) as sess:
        assert_close(sess.run([x[[1, 0, 1]]]), [want[[1, 0, 1]]])
    assert "acl.util.ptr_to_numpy" in sim.acl.sim_calls()
