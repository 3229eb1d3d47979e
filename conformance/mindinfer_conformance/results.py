"""What a conformance run produces: one :class:`CaseResult` per case or api check, and a summary.

Three outcomes, never more: ``passed``; ``failed`` (the backend claims the case and gets it wrong,
raises, or breaks the contract); ``unsupported`` (the case needs something the backend does not
declare). Coverage is passed / total over the tiers run, so a backend that declares nothing cannot
pass a run with a ``min_coverage``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from .compare import Comparison

__all__ = ["FAILED", "PASSED", "UNSUPPORTED", "CaseResult", "Outcome", "SuiteResult", "Summary"]

Outcome = Literal["passed", "failed", "unsupported"]
PASSED: Outcome = "passed"
FAILED: Outcome = "failed"
UNSUPPORTED: Outcome = "unsupported"


@dataclass
class CaseResult:
    """The outcome of one case (``op/softmax``) or api check (``api/run_twice``)."""

    id: str
    tier: str
    status: Outcome
    message: str = ""
    #: Primitives the case uses (for naming the culprit when several cases fail).
    primitives: tuple[str, ...] = ()
    #: Capabilities the backend lacks, for unsupported cases (``primitive Erf``, ``dtype float16``).
    missing: tuple[str, ...] = ()
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def worst(self) -> Comparison | None:
        failing = [c for c in self.comparisons if not c.ok]
        if failing:
            return failing[0]
        return max(self.comparisons, key=lambda c: c.worst_abs) if self.comparisons else None

    def to_json(self) -> dict[str, Any]:
        worst = self.worst
        return {
            "id": self.id,
            "tier": self.tier,
            "status": self.status,
            "message": self.message,
            "primitives": list(self.primitives),
            "missing": list(self.missing),
            "worst": worst.to_json() if worst is not None else None,
            "outputs": [c.to_json() for c in self.comparisons],
        }


@dataclass(frozen=True)
class Summary:
    passed: int
    failed: int
    unsupported: int
    min_coverage: float = 0.0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.unsupported

    @property
    def coverage(self) -> float:
        return self.passed / self.total if self.total else 0.0

    @property
    def coverage_ok(self) -> bool:
        return self.coverage + 1e-12 >= self.min_coverage

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.coverage_ok

    def __str__(self) -> str:
        text = (
            f"{self.passed} passed, {self.failed} failed, {self.unsupported} unsupported of {self.total}; "
            f"coverage {self.coverage:.1%}"
        )
        if self.min_coverage:
            text += f" (minimum {self.min_coverage:.1%}{'' if self.coverage_ok else ': TOO LOW'})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "unsupported": self.unsupported,
            "total": self.total,
            "coverage": round(self.coverage, 6),
            "min_coverage": self.min_coverage,
            "coverage_ok": self.coverage_ok,
            "ok": self.ok,
        }


@dataclass
class SuiteResult:
    """Every result of one run against one backend, and what the backend is."""

    target: str
    backend: str
    tiers: tuple[str, ...]
    results: list[CaseResult]
    min_coverage: float = 0.0
    precision: str = "fp32"
    environment: dict[str, Any] = field(default_factory=dict)
    devices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> Summary:
        counts = Counter(r.status for r in self.results)
        return Summary(counts[PASSED], counts[FAILED], counts[UNSUPPORTED], self.min_coverage)

    @property
    def ok(self) -> bool:
        return self.summary.ok

    def by_status(self, status: Outcome) -> list[CaseResult]:
        return [r for r in self.results if r.status == status]

    def tier_summary(self, tier: str) -> Summary:
        counts = Counter(r.status for r in self.results if r.tier == tier)
        return Summary(counts[PASSED], counts[FAILED], counts[UNSUPPORTED])

    def suspects(self) -> list[str]:
        """Primitives used by failed cases and by no passed case: the likely culprits, most failures first.

        A perturbed ``Softmax`` fails every case that uses it, while the other primitives of those
        cases (``MatMul``, ``Add``) also appear in cases that pass -- so only ``Softmax`` is left.
        """
        failed = [r for r in self.results if r.status == FAILED and r.tier != "api"]
        # A whole network passed by the network criterion (one bound scaled by its largest output)
        # can absorb a small error deep inside: it clears none of its primitives.
        cleared = {
            p
            for r in self.results
            if r.status == PASSED and not any(c.tolerance.network for c in r.comparisons)
            for p in r.primitives
        }
        counts = Counter(p for r in failed for p in set(r.primitives) if p not in cleared)
        return [p for p, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "backend": self.backend,
            "tiers": list(self.tiers),
            "precision": self.precision,
            "environment": self.environment,
            "devices": self.devices,
            "summary": self.summary.to_json(),
            "tier_summaries": {t: self.tier_summary(t).to_json() for t in self.tiers},
            "suspects": self.suspects(),
            "results": [r.to_json() for r in self.results],
        }
