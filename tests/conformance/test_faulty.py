"""The suite catches a wrong backend and points at the culprit.

Every faulty plugin wraps the real cpu backend (which passes the whole suite) and plants one fault,
so whatever fails is that fault's doing. Which cases *should* fail is computed from the cases' own
primitives, not listed by hand.
"""

from __future__ import annotations

import pytest
from mindinfer import PluginRegistry
from mindinfer_conformance.cases import discover
from mindinfer_conformance.report import to_markdown, to_text
from mindinfer_conformance.runner import SuiteConfig, run_suite


def _using(primitive: str) -> set[str]:
    return {c.id for c in discover() if not c.broken and primitive in c.requirements().primitives}


def test_perturbed_softmax_fails_exactly_the_softmax_cases(faulty_registry: PluginRegistry) -> None:
    res = run_suite("cpu@softmax_bug", SuiteConfig(tiers=("op", "model")), registry=faulty_registry)
    expected = _using("Softmax")
    assert {"model/transformer_block", "model/mlp_layernorm_gelu"} <= expected
    failed = {r.id for r in res.by_status("failed")}
    # A whole network judged by the network criterion (one bound scaled by its largest output) may
    # absorb a +1e-2 planted deep inside; every other Softmax case must fail, and nothing else.
    network = {c.id for c in discover() if c.criterion == "network"}
    assert expected - network <= failed <= expected, to_text(res)
    assert res.suspects() == ["Softmax"]
    for r in res.by_status("failed"):
        worst = r.worst
        assert worst is not None and not worst.ok
        assert worst.worst_abs > 1e-3, r.message  # the planted 1e-2, attenuated downstream in whole networks
        assert "worst abs error" in r.message and "Softmax" in r.message
    # The perturbation is +1e-2 on each Softmax output: the op case shows it undiluted.
    softmax_ops = [r for r in res.by_status("failed") if r.tier == "op"]
    assert any(abs(r.worst.worst_abs - 1e-2) < 1e-4 for r in softmax_ops if r.worst)  # type: ignore[union-attr]
    assert not res.ok
    text, md = to_text(res), to_markdown(res)
    assert "suspect primitive(s) (used by failing cases only): Softmax" in text
    assert "`Softmax`" in md and "## Failures" in md


def test_declared_but_uncompilable_erf_is_caught_by_the_api_and_op_tiers(faulty_registry: PluginRegistry) -> None:
    res = run_suite("cpu@erf_raises", SuiteConfig(), registry=faulty_registry)
    by_id = {r.id: r for r in res.results}
    caps_check = by_id["api/capabilities"]
    assert caps_check.status == "failed"
    assert "'Erf'" in caps_check.message and "model/transformer_block" in caps_check.message
    assert "every primitive is declared" in caps_check.message
    erf_cases = _using("Erf")
    assert erf_cases and {r.id for r in res.by_status("failed") if r.tier != "api"} == erf_cases
    assert all("Erf" in by_id[c].message for c in erf_cases)
    assert res.suspects() == ["Erf"]


def test_declared_erf_computing_garbage_fails_with_the_worst_error(faulty_registry: PluginRegistry) -> None:
    res = run_suite("cpu@erf_garbage", SuiteConfig(tiers=("op", "model")), registry=faulty_registry)
    failed = {r.id: r for r in res.by_status("failed")}
    assert "op/erf" in failed and set(failed) <= _using("Erf")
    worst = failed["op/erf"].worst
    assert worst is not None and worst.worst_abs > 1e-3 and worst.where
    assert "Erf" in res.suspects()


def test_a_backend_declaring_almost_nothing_cannot_pass_by_skipping(faulty_registry: PluginRegistry) -> None:
    lax = run_suite("cpu@declares_little", SuiteConfig(tiers=("op", "model")), registry=faulty_registry)
    s = lax.summary
    assert s.failed == 0 and s.unsupported > 10 * s.passed > 0
    assert lax.ok  # right answers, no minimum asked for...
    strict = run_suite(
        "cpu@declares_little", SuiteConfig(tiers=("op", "model"), min_coverage=0.5), registry=faulty_registry
    )
    assert not strict.ok and not strict.summary.coverage_ok  # ...but a coverage floor fails it
    assert "TOO LOW" in str(strict.summary)
    needs = {m for r in strict.by_status("unsupported") for m in r.missing}
    assert "primitive Conv2D" in needs


def test_null_backend_computes_nothing_and_fails_everywhere() -> None:
    from mindinfer.testing import null_registry

    res = run_suite("null", SuiteConfig(tiers=("api", "model")), registry=null_registry())
    by_id = {r.id: r for r in res.results}
    assert by_id["api/unsupported_op"].status == "failed"
    assert "NoSuchPrimitive" in by_id["api/unsupported_op"].message
    assert by_id["api/compile_run"].status == "failed"
    assert all(by_id[c.id].status == "failed" for c in discover(("model",)))


@pytest.mark.parametrize("target", ["gpu,cpu", "auto"])
def test_targets_that_do_not_name_one_backend_are_refused(target: str) -> None:
    from mindinfer import InvalidTargetError

    with pytest.raises(InvalidTargetError, match="conformance"):
        run_suite(target)
