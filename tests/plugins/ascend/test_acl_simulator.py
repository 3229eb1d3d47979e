"""The ACL simulator enforces CANN's rules (else the plugin's tests against it would prove nothing).

Each test breaks one rule with raw pyACL-style calls and checks the simulator answers with CANN's
code and records the violation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import mindinfer
import numpy as np
import pytest
from ascend_sim import case
from mindinfer_ascend.testing import acl_simulator as acl


@pytest.fixture
def fresh() -> Iterator[None]:
    acl.sim_reset(soc="Ascend910B3", devices=1)
    yield
    acl.sim_reset()


def _violated(text: str) -> bool:
    return any(text in v for v in acl.sim_violations())


@pytest.mark.usefixtures("fresh")
def test_calls_before_init_and_a_second_init() -> None:
    assert acl.rt.set_device(0) == acl.UNINITIALIZE
    assert acl.init() == 0
    assert acl.init() == acl.REPEAT_INITIALIZE
    assert _violated("before acl.init") and _violated("only once per process")
    assert acl.finalize() == 0
    assert acl.finalize() == acl.REPEAT_FINALIZE


@pytest.mark.usefixtures("fresh")
def test_a_context_must_be_current_in_the_calling_thread() -> None:
    acl.init()
    assert acl.rt.set_device(0) == 0
    ctx, ret = acl.rt.create_context(0)
    assert ret == 0
    ptr, ret = acl.rt.malloc(64, 2)
    assert ret == 0
    seen: list[tuple[int, int]] = []

    def other_thread() -> None:
        seen.append(acl.rt.malloc(64, 2))  # no context in this thread
        acl.rt.set_context(ctx)
        seen.append(acl.rt.malloc(64, 2))

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert seen[0] == (0, acl.RT_CONTEXT_NULL) and seen[1][1] == 0
    assert acl.rt.free(ptr) == 0 and acl.rt.free(seen[1][0]) == 0
    assert acl.rt.free(ptr) == acl.RT_PARAM_INVALID  # twice
    assert acl.rt.destroy_context(ctx) == 0 and acl.rt.reset_device(0) == 0
    assert acl.sim_leaks() == []


@pytest.mark.usefixtures("fresh")
def test_finalize_with_live_resources_is_refused_and_recorded() -> None:
    acl.init()
    acl.rt.set_device(0)
    acl.rt.malloc(16, 2)
    assert acl.finalize() == acl.RESOURCE_NOT_CLEARED
    assert _violated("device memory") and _violated("device 0 set 1 time")


def test_datasets_must_match_the_description_and_a_gear_must_be_set(
    fresh: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ascend_sim import registry_with_ascend
    from mindinfer_ascend import _acl

    # An .om with gears, made by the plugin itself through the ATC simulator.
    monkeypatch.setenv(_acl.SIMULATOR_ENV, "Ascend910B3")
    monkeypatch.setenv("MINDINFER_ASCEND_CACHE", str(tmp_path))
    monkeypatch.setattr(_acl, "_RUNTIME", _acl.Runtime())
    mindinfer.Session(case("small_cnn_dynamic_batch")[0], target="ascend", plugins=registry_with_ascend()).close()
    _acl.runtime().shutdown()
    (om,) = tmp_path.glob("*.om")
    acl.sim_reset(soc="Ascend910B3")

    acl.init()
    acl.rt.set_device(0)
    model_id, _ = acl.mdl.load_from_file(str(om))
    desc = acl.mdl.create_desc()
    acl.mdl.get_desc(desc, model_id)
    n_in = acl.mdl.get_num_inputs(desc)
    assert (n_in, acl.mdl.get_num_outputs(desc)) == (2, 1)  # the image and ascend_mbatch_shape_data
    sizes = [acl.mdl.get_input_size_by_index(desc, i) for i in range(n_in)]
    out_size = acl.mdl.get_output_size_by_index(desc, 0)
    bufs, ptrs = [], []

    def dataset(sizes_: list[int]) -> int:
        ds = acl.mdl.create_dataset()
        for size in sizes_:
            ptr, _ = acl.rt.malloc(size, 2)
            buf = acl.create_data_buffer(ptr, size)
            acl.mdl.add_dataset_buffer(ds, buf)
            bufs.append(buf)
            ptrs.append(ptr)
        return ds

    short = dataset([sizes[0] - 4, sizes[1]])
    good = dataset(sizes)
    out = dataset([out_size])
    assert acl.mdl.execute(model_id, short, out) == acl.GE_DATA_SIZE_INVALID
    assert acl.mdl.execute(model_id, good, out) == acl.GE_BATCH_SIZE_INVALID  # no gear set yet
    assert acl.mdl.set_dynamic_batch_size(model_id, good, 1, 3) == acl.GE_BATCH_SIZE_INVALID  # not a gear
    assert acl.mdl.set_dynamic_batch_size(model_id, good, 1, 4) == 0
    assert acl.mdl.execute(model_id, good, out) == 0
    dims, _ = acl.mdl.get_cur_output_dims(desc, 0)
    assert dims["dims"] == [4, 5]
    assert _violated(f"input 0's buffer is {sizes[0] - 4} bytes")
    assert _violated("call acl.mdl.set_dynamic_batch_size first")

    for buf in bufs:
        acl.destroy_data_buffer(buf)
    for ds in (short, good, out):
        acl.mdl.destroy_dataset(ds)
    for ptr in ptrs:
        acl.rt.free(ptr)
    acl.mdl.unload(model_id)
    acl.mdl.destroy_desc(desc)
    acl.rt.reset_device(0)
    assert acl.finalize() == 0 and acl.sim_leaks() == []
    np.testing.assert_equal(acl.sim_state()["initialized"], False)
