"""The suite passes for our own backends, with the coverage each claims.

``CLAIMED`` is the coverage (passed / total over every tier) each backend is held to; what it does
not cover must be unsupported by *declaration* (a missing primitive, dtype, dynamic shapes or control
flow), never a wrong answer.
"""

from __future__ import annotations

import pytest
from mindinfer_conformance.report import to_text
from mindinfer_conformance.results import SuiteResult
from mindinfer_conformance.runner import SuiteConfig, run_suite

#: Minimum coverage each bundled backend claims (a little under what it reaches, so that a new op
#: case that a backend does not declare yet does not break CI, while losing a kernel does).
CLAIMED = {"cpu": 0.95, "cpu@onnx": 0.9}


@pytest.fixture(scope="module", params=sorted(CLAIMED))
def result(request: pytest.FixtureRequest) -> SuiteResult:
    return run_suite(request.param, SuiteConfig(min_coverage=CLAIMED[request.param]))


def test_suite_passes_with_claimed_coverage(result: SuiteResult) -> None:
    assert result.summary.failed == 0, to_text(result)
    assert result.ok, to_text(result)
    assert result.summary.coverage >= CLAIMED[result.target]


def test_api_tier_passes_entirely(result: SuiteResult) -> None:
    api = [r for r in result.results if r.tier == "api"]
    assert len(api) == 9
    assert [r.id for r in api if r.status != "passed"] == [], to_text(result, verbose=True)


def test_unsupported_means_undeclared(result: SuiteResult) -> None:
    from mindinfer_conformance.target import resolve_target

    caps = resolve_target(result.target).backend.capabilities
    for r in result.by_status("unsupported"):
        assert r.missing, r.id
        for need in r.missing:
            kind, _, what = need.partition(" ")
            if kind == "primitive":
                assert what not in caps.primitives, r.id
            elif kind == "dtype":
                assert what not in caps.dtypes, r.id


def test_cpu_runs_the_whole_model_corpus() -> None:
    res = run_suite("cpu", SuiteConfig(tiers=("model",)))
    assert [r.id for r in res.results if r.status != "passed"] == [], to_text(res)
    assert len(res.results) >= 7
