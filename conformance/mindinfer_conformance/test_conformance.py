"""The conformance suite as pytest tests: ``pytest --pyargs mindinfer_conformance --mindinfer-target T``.

The parametrization (one test per api check and per op/model case) and the fixture come from
:mod:`mindinfer_conformance.pytest_plugin`; without ``--mindinfer-target`` every test is skipped.
"""

from __future__ import annotations

from typing import Any

from mindinfer_conformance.pytest_plugin import ConformanceSession, check_api, check_case


def test_api(mindinfer_conformance: ConformanceSession, mindinfer_api_check: str) -> None:
    check_api(mindinfer_conformance, mindinfer_api_check)


def test_case(mindinfer_conformance: ConformanceSession, mindinfer_case: Any) -> None:
    check_case(mindinfer_conformance, mindinfer_case)
