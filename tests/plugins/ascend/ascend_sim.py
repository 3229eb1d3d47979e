"""Helpers for the ascend plugin tests: the simulated process of one test, stored cases, comparisons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mindinfer import PluginRegistry
from mindinfer_ascend import _acl, plugin
from mindinfer_ascend.testing import acl_simulator
from stored_cases import CASES, inputs, outputs

MODELS = CASES / "model"


class Sim:
    """The simulator's controls plus the registry and cache folder of one test."""

    def __init__(self, registry: PluginRegistry, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.registry, self.cache, self.monkeypatch = registry, cache, monkeypatch
        self.acl = acl_simulator

    def reset(self, soc: str = "Ascend910B3", devices: int = 1, run_mode: int = 1, legacy_util: bool = False) -> None:
        """A fresh simulated process with this SoC and device count (and a fresh plugin registry)."""
        _acl.runtime().shutdown()  # the previous simulated process exits
        assert self.acl.sim_violations() == [] and self.acl.sim_leaks() == []
        self.acl.sim_reset(soc=soc, devices=devices, run_mode=run_mode, legacy_util=legacy_util)
        self.monkeypatch.setenv(_acl.SIMULATOR_ENV, soc)
        self.monkeypatch.setattr(_acl, "_RUNTIME", _acl.Runtime())
        self.registry = registry_with_ascend()

    def backend(self):  # type: ignore[no-untyped-def]
        return self.registry.find("ascend")[0]

    def device(self):  # type: ignore[no-untyped-def]
        return next(d for d in self.backend().devices() if d.usable)

    def om_files(self) -> list[Path]:
        return sorted(self.cache.glob("*.om"))


def registry_with_ascend() -> PluginRegistry:
    registry = PluginRegistry(autoload=False)
    registry.register(plugin, name="ascend", distribution="mindinfer-ascend")
    return registry


def case(name: str) -> tuple[Path, list[np.ndarray], list[np.ndarray]]:
    folder = MODELS / name
    return folder / "model.mindir", inputs(folder), outputs(folder)


def assert_close(got: list[np.ndarray], want: list[np.ndarray], rtol: float = 1e-4, atol: float = 1e-5) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
