"""Fixtures for the cpu plugin tests."""

from __future__ import annotations

import pytest
from mindinfer.backend import Device
from mindinfer_cpu import CpuBackend


@pytest.fixture(scope="session")
def backend() -> CpuBackend:
    return CpuBackend()


@pytest.fixture(scope="session")
def device(backend: CpuBackend) -> Device:
    return backend.devices()[0]
