"""Fixtures for the ascend plugin: the ACL and ATC simulators switched on explicitly, per test.

``sim`` gives each test a fresh simulated process (the simulator's state and the plugin's ACL
runtime both start empty), a private .om cache, and a registry holding only the ascend plugin. After
the test it shuts ACL down the way the process's exit does, then checks that nothing leaked and that
no CANN rule was broken.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ascend_sim import Sim, registry_with_ascend
from mindinfer_ascend import _acl
from mindinfer_ascend.testing import acl_simulator


@pytest.fixture
def sim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sim]:
    monkeypatch.setenv(_acl.SIMULATOR_ENV, "Ascend910B3")
    monkeypatch.setenv("MINDINFER_ASCEND_CACHE", str(tmp_path / "om-cache"))
    for name in ("MINDINFER_ASCEND_SIMULATOR_ATC_SLEEP", "MINDINFER_ASCEND_SIMULATOR_ATC_FAIL"):
        monkeypatch.delenv(name, raising=False)
    acl_simulator.sim_reset(soc="Ascend910B3", devices=1)
    monkeypatch.setattr(_acl, "_RUNTIME", _acl.Runtime())
    s = Sim(registry_with_ascend(), tmp_path / "om-cache", monkeypatch)
    yield s
    _acl.runtime().shutdown()  # what atexit does: close what is open, destroy contexts, finalize
    assert acl_simulator.sim_violations() == []
    assert acl_simulator.sim_leaks() == []


@pytest.fixture(scope="session")
def _shared_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("om-cache-shared")


@pytest.fixture
def shared_cache(sim: Sim, _shared_cache_dir: Path) -> Path:
    """An .om cache shared by the tests that do not look into it (each compile there is a subprocess).

    Safe to share: the key holds the SoC, the (simulated) CANN and every compile option."""
    sim.monkeypatch.setenv("MINDINFER_ASCEND_CACHE", str(_shared_cache_dir))
    sim.cache = _shared_cache_dir
    return _shared_cache_dir
