"""The fuzz harness: a seeded sample of mutants gives only clean errors or runs (``make fuzz`` runs
thousands), and the harness itself tells hangs, crashes, raw errors and memory blow-ups apart."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from mindinfer_fuzz import CLASSES, Limits, child, fuzz
from mindinfer_fuzz.harness import make_mutant, seeds

#: Mutants of the default suite's sample (each run on both plugins); ``make fuzz`` takes N.
SAMPLE = int(os.environ.get("MINDINFER_FUZZ_SAMPLE", "200"))


def test_seeded_sample_is_all_clean_or_ran() -> None:
    report = fuzz(SAMPLE, seed=18, targets=["cpu@cpu", "cpu@onnx"], jobs=2, limits=Limits(wall_s=60))
    assert len(report.results) == 2 * SAMPLE
    assert {r.cls for r in report.results} == set(CLASSES)
    bad = [f"#{r.index} {r.cls} {r.seed} [{r.what}] {r.target}: {r.outcome}: {r.error}" for r in report.bad()]
    assert not bad, "\n".join(bad)
    outcomes = {r.outcome for r in report.results}
    assert outcomes == {"clean", "ran"}, outcomes  # mutants both refused and run: the sample is not all noise


def test_mutants_are_reproducible(tmp_path: Path) -> None:
    pool = seeds()
    for cls in CLASSES:
        a = make_mutant(5, 99, cls, pool, tmp_path / "a")
        b = make_mutant(5, 99, cls, pool, tmp_path / "b")
        assert a == b
        assert (tmp_path / "a" / "model.mindir").read_bytes() == (tmp_path / "b" / "model.mindir").read_bytes()


def _hang(*_: Any) -> dict[str, Any]:
    time.sleep(60)
    return {}


def _crash(*_: Any) -> dict[str, Any]:
    os.abort()


def _raw(*_: Any, **__: Any) -> Any:
    raise ValueError("not a MindInferError")


def _memory(folder: Any, target: Any, options: Any, timeout: Any) -> dict[str, Any]:
    try:
        bytearray(8 << 30)  # over the child's RLIMIT_AS
    except MemoryError as exc:
        return {"outcome": "memory" if child._has_memory_error(exc) else "ran", "stage": "run", "error": "MemoryError"}
    return {"outcome": "ran", "stage": "run", "error": ""}


@pytest.mark.parametrize(("fn", "want"), [(_hang, "hang"), (_crash, "crash"), (_raw, "raw"), (_memory, "memory")])
def test_harness_classifies_what_goes_wrong(monkeypatch: pytest.MonkeyPatch, fn: Any, want: str) -> None:
    if fn is _raw:
        # The real run_case, with mindinfer.load raising an exception that is no MindInferError.
        import mindinfer

        monkeypatch.setattr(mindinfer, "load", fn)
    else:
        monkeypatch.setattr(child, "run_case", fn)
    report = fuzz(1, seed=0, targets=["cpu@cpu"], classes=["dims"], limits=Limits(wall_s=1.5, memory_mb=2048))
    assert [r.outcome for r in report.results] == [want]
    if fn is _raw:
        (r,) = report.results
        assert r.stage == "load"
        assert r.error.startswith("ValueError: not a MindInferError [at test_fuzz.py:"), r.error
