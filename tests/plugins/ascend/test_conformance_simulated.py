"""The conformance suite's api tier against the SIMULATED Ascend device (labelled so in its report)."""

from __future__ import annotations

from ascend_sim import Sim
from mindinfer_conformance.report import to_text
from mindinfer_conformance.runner import SuiteConfig, run_suite


def test_api_tier_passes_on_the_simulated_ascend_device(sim: Sim, shared_cache: object) -> None:
    result = run_suite("ascend", SuiteConfig(tiers=("api",)), registry=sim.registry)
    text = to_text(result, verbose=True)
    assert "[SIMULATED]" in text.splitlines()[0], text
    api = [r for r in result.results if r.tier == "api"]
    assert len(api) == 9
    assert [r.id for r in api if r.status != "passed"] == [], text
