"""pytest plugin: ``pytest --pyargs mindinfer_conformance --mindinfer-target T``."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mindinfer", "mindinfer conformance suite")
    group.addoption("--mindinfer-target", default=None, help="device target string of the backend under test")
