"""Fixtures for the onnx plugin tests."""

from __future__ import annotations

import pytest
from mindinfer.backend import Device
from mindinfer_onnx.backend import OnnxBackend


@pytest.fixture(scope="session")
def backend() -> OnnxBackend:
    return OnnxBackend()


@pytest.fixture(scope="session")
def cpu_device(backend: OnnxBackend) -> Device:
    return next(d for d in backend.devices() if d.kind == "cpu")
