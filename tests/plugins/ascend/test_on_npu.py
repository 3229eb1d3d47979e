"""Conformance model cases lenet5 and small_cnn_dynamic_batch on a REAL Ascend NPU, against MindSpore's outputs.

Needs CANN's pyACL (``import acl``) and ``atc`` on PATH, with ``MINDINFER_ASCEND_SIMULATOR`` unset;
elsewhere it skips, saying which piece is missing. It has never run: nobody with an NPU has run it
yet. Someone with one runs ``.venv/bin/python -m pytest -m ascend tests/plugins/ascend``.
"""

from __future__ import annotations

import pytest
from mindinfer_ascend import _acl
from mindinfer_ascend.atc import atc_command, missing_atc_reason
from mindinfer_conformance.cases import discover
from mindinfer_conformance.report import to_text
from mindinfer_conformance.runner import SuiteConfig, run_suite

CASES = ("lenet5", "small_cnn_dynamic_batch")


def _missing() -> str:
    if _acl.simulated():
        return f"{_acl.SIMULATOR_ENV} is set: this test is for a real NPU, not the simulator"
    try:
        _acl.load_acl()
    except _acl.AclUnavailableError as exc:
        return str(exc)
    if atc_command() is None:
        return missing_atc_reason()
    return ""


MISSING = _missing()
pytestmark = [pytest.mark.ascend, pytest.mark.skipif(bool(MISSING), reason=f"needs an Ascend NPU with CANN: {MISSING}")]


def test_model_cases_match_mindspore_on_the_npu() -> None:
    cases = [c for c in discover(("model",)) if c.name in CASES]
    assert sorted(c.name for c in cases) == sorted(CASES)
    # The conformance suite's fp16 policy (rtol 1e-2, atol 1e-3, cosine >= 0.999) on every chip: on
    # 310/310B/310P/910 option precision="auto" runs convolutions and matrix products in fp16; on
    # 910B/910_93 it keeps fp32, but CANN documents convolutions as computing in HF32 (fp16's
    # mantissa) by default there (ATC --allow_hf32). The simulator passes it on each SoC.
    result = run_suite("ascend", SuiteConfig(tiers=("model",), precision="fp16"), cases=cases)
    text = to_text(result, verbose=True)
    assert "[SIMULATED]" not in text.splitlines()[0], text
    assert [r.id for r in result.results] == [f"model/{name}" for name in sorted(CASES)], text
    assert [r.id for r in result.results if r.status != "passed"] == [], text
