"""Comparing a backend's outputs with MindSpore's: a tolerance policy per dtype and precision mode.

* integers and bools: exact;
* float32/float64 at full precision: element-wise ``|actual - expected| <= atol + rtol * |expected|``
  with the case's rtol/atol;
* float16 outputs, or any float output of a reduced-precision run (``fp16``, ``bf16``): looser
  element-wise bounds *and* a cosine-similarity floor, because rounding errors there are large per
  element but must not change the direction of the whole tensor.

* whole networks (a case whose ``case.json`` says ``"criterion": "network"``): one bound for the
  whole tensor, ``max|actual - expected| <= atol + rtol * max|expected|``, and cosine similarity
  >= 0.99999 (:data:`NETWORK`). Element-wise bounds cannot be met in float32 by deep random-weight
  networks: MindSpore's own output misses its float64 result that way.

NaN must match NaN and infinities must match exactly. The result always carries the worst absolute
and relative errors, where they occur and the cosine similarity, for the failure message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "NETWORK",
    "PRECISIONS",
    "Comparison",
    "Tolerance",
    "compare",
    "compare_outputs",
    "network_tolerance",
    "tolerance_for",
    "worst",
]

#: Precision modes a backend may be run in (passed to ``compile`` as ``options["precision"]``).
PRECISIONS = ("fp32", "fp16", "bf16")

# Floors applied on top of the case's own tolerance: (rtol, atol, cosine_min).
_REDUCED = {
    "float16": (1e-2, 1e-3, 0.999),
    "fp16": (1e-2, 1e-3, 0.999),
    "bf16": (4e-2, 1e-2, 0.995),
}


@dataclass(frozen=True)
class Tolerance:
    """How close is close enough for one output. ``exact`` wins over everything else."""

    rtol: float
    atol: float
    cosine_min: float | None = None
    exact: bool = False
    #: One bound for the whole tensor: ``atol + rtol * max|expected|`` (whole-network criterion).
    network: bool = False

    def __str__(self) -> str:
        if self.exact:
            return "exact"
        if self.network:
            return f"max|d| <= {self.atol:g} + {self.rtol:g} * max|expected|, cosine>={self.cosine_min:g}"
        text = f"rtol={self.rtol:g} atol={self.atol:g}"
        return text + (f" cosine>={self.cosine_min:g}" if self.cosine_min is not None else "")


def tolerance_for(
    dtype: npt.DTypeLike, rtol: float, atol: float, precision: str = "fp32", cosine_min: float | None = None
) -> Tolerance:
    """The policy: the case's ``rtol``/``atol`` adjusted for the output dtype and the precision mode."""
    dt = np.dtype(dtype)
    if dt.kind in "biu":
        return Tolerance(0.0, 0.0, exact=True)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision mode {precision!r}; choose from {', '.join(PRECISIONS)}")
    reduced = "float16" if dt == np.float16 else precision if precision != "fp32" else None
    if reduced is None:
        return Tolerance(rtol, atol, cosine_min)
    r, a, c = _REDUCED[reduced]
    return Tolerance(max(rtol, r), max(atol, a), cosine_min if cosine_min is not None else c)


#: The whole-network criterion's constants: (rtol, atol, cosine_min).
NETWORK = (1e-3, 1e-4, 0.99999)


def network_tolerance(dtype: npt.DTypeLike) -> Tolerance:
    """The whole-network criterion for one output (integer and bool outputs stay exact)."""
    if np.dtype(dtype).kind in "biu":
        return Tolerance(0.0, 0.0, exact=True)
    rtol, atol, cosine = NETWORK
    return Tolerance(rtol, atol, cosine, network=True)


@dataclass(frozen=True)
class Comparison:
    """The outcome for one output (or, from :func:`compare_outputs`, the worst output)."""

    ok: bool
    output: int
    tolerance: Tolerance
    worst_abs: float = 0.0
    worst_rel: float = 0.0
    #: Position of the element that is furthest outside the tolerance (or the worst, if all pass).
    where: tuple[int, ...] = ()
    actual_value: float | None = None
    expected_value: float | None = None
    cosine: float | None = None
    mismatched: int = 0
    size: int = 0
    problem: str = ""

    @property
    def message(self) -> str:
        """One line for a report: which output, how wrong, where, and the tolerance it broke."""
        head = f"output {self.output}"
        if self.problem:
            return f"{head}: {self.problem}"
        if self.tolerance.exact:
            detail = f"{self.mismatched}/{self.size} elements differ (exact match required)"
            if self.where:
                detail += f"; first at {list(self.where)}: got {self.actual_value:g}, expected {self.expected_value:g}"
            return f"{head}: {detail}"
        parts = [
            f"worst abs error {self.worst_abs:.3g}",
            f"worst rel error {self.worst_rel:.3g}",
        ]
        if self.where:
            parts.append(f"at {list(self.where)} (got {self.actual_value:.7g}, expected {self.expected_value:.7g})")
        if self.cosine is not None:
            low = self.tolerance.cosine_min is not None and self.cosine < self.tolerance.cosine_min
            parts.append(f"cosine {self.cosine:.6f}" + (" (below the floor)" if low else ""))
        if self.mismatched:
            parts.append(f"{self.mismatched}/{self.size} elements out of tolerance")
        return f"{head}: {', '.join(parts)}; tolerance {self.tolerance}"

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "output": self.output,
            "tolerance": str(self.tolerance),
            "worst_abs": _finite(self.worst_abs),
            "worst_rel": _finite(self.worst_rel),
            "where": list(self.where),
            "cosine": _finite(self.cosine),
            "mismatched": self.mismatched,
            "size": self.size,
            "problem": self.problem or None,
            "message": self.message,
        }


def _finite(x: float | None) -> float | str | None:
    # JSON has no inf/nan; keep them readable instead of breaking the report.
    if x is None or math.isfinite(x):
        return x
    return str(x)


def compare(actual: object, expected: np.ndarray, tol: Tolerance, output: int = 0) -> Comparison:
    """Compare one output array with MindSpore's; never raises for a wrong answer."""
    exp = np.asarray(expected)
    if not isinstance(actual, np.ndarray):
        try:
            actual = np.asarray(actual)
        except Exception:  # noqa: BLE001
            return Comparison(False, output, tol, problem=f"is a {type(actual).__name__}, not an array")
    act = actual
    if act.shape != exp.shape:
        return Comparison(False, output, tol, problem=f"shape {list(act.shape)}, expected {list(exp.shape)}")
    if act.dtype != exp.dtype:
        return Comparison(False, output, tol, problem=f"dtype {act.dtype}, expected {exp.dtype}")
    if tol.exact:
        return _compare_exact(act, exp, tol, output)
    return _compare_float(act, exp, tol, output)


def _compare_exact(act: np.ndarray, exp: np.ndarray, tol: Tolerance, output: int) -> Comparison:
    diff = act != exp
    n = int(np.count_nonzero(diff))
    if n == 0:
        return Comparison(True, output, tol, size=exp.size)
    first = tuple(int(i) for i in np.argwhere(diff)[0])
    a, e = act[first], exp[first]
    worst = float(np.max(np.abs(act.astype(np.float64) - exp.astype(np.float64))))
    return Comparison(
        False, output, tol, worst_abs=worst, worst_rel=0.0, where=first, actual_value=float(a),
        expected_value=float(e), mismatched=n, size=exp.size,
    )  # fmt: skip


def _compare_float(act: np.ndarray, exp: np.ndarray, tol: Tolerance, output: int) -> Comparison:
    a = act.astype(np.float64)
    e = exp.astype(np.float64)
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    inf_mismatch = (np.isinf(a) | np.isinf(e)) & (a != e)
    special_bad = (nan_a != nan_e) | inf_mismatch
    finite = np.isfinite(a) & np.isfinite(e)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: handled by special_bad above
        err = np.where(finite, np.abs(a - e), 0.0)
    if tol.network:  # one bound for the whole tensor, scaled by its largest expected magnitude
        bound = np.full(e.shape, tol.atol + tol.rtol * (float(np.abs(e[finite]).max()) if finite.any() else 0.0))
    else:
        bound = tol.atol + tol.rtol * np.abs(e)
    # How far outside its bound each element is: the element with the largest ratio is the culprit.
    ratio = np.where(finite, err / np.where(bound > 0, bound, np.inf), 0.0)
    ratio = np.where(special_bad, np.inf, ratio)
    bad = ratio > 1.0
    # Relative error only where |expected| is large enough to divide by: near zero it explodes and
    # says nothing that the absolute error does not.
    rel_ok = finite & (np.abs(e) > max(tol.atol, 1e-12))
    rel = np.where(rel_ok, err / np.where(rel_ok, np.abs(e), 1.0), 0.0)
    cosine = _cosine(a[finite], e[finite]) if finite.any() else None
    n_bad = int(np.count_nonzero(bad))
    where = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), exp.shape)) if exp.size else ()
    cos_bad = tol.cosine_min is not None and cosine is not None and cosine < tol.cosine_min
    ok = n_bad == 0 and not cos_bad
    return Comparison(
        ok=ok,
        output=output,
        tolerance=tol,
        worst_abs=float(err.max()) if err.size else 0.0,
        worst_rel=float(rel.max()) if rel.size else 0.0,
        where=where,
        actual_value=float(a[where]) if exp.size else None,
        expected_value=float(e[where]) if exp.size else None,
        cosine=cosine,
        mismatched=n_bad,
        size=int(exp.size),
    )


def _cosine(a: np.ndarray, e: np.ndarray) -> float:
    na, ne = float(np.linalg.norm(a)), float(np.linalg.norm(e))
    if na == 0.0 and ne == 0.0:
        return 1.0
    if na == 0.0 or ne == 0.0:
        return 0.0
    return float(np.dot(a.ravel(), e.ravel()) / (na * ne))


def compare_outputs(
    actual: Sequence[object], expected: Sequence[np.ndarray], tolerances: Sequence[Tolerance]
) -> list[Comparison]:
    """One :class:`Comparison` per expected output; a missing or extra output is a failed entry."""
    results: list[Comparison] = []
    if len(actual) != len(expected):
        tol = tolerances[0] if tolerances else Tolerance(0.0, 0.0)
        results.append(
            Comparison(False, -1, tol, problem=f"backend returned {len(actual)} output(s), expected {len(expected)}")
        )
    for i, (act, exp, tol) in enumerate(zip(actual, expected, tolerances)):
        results.append(compare(act, exp, tol, i))
    return results


def worst(comparisons: Sequence[Comparison]) -> Comparison:
    """The comparison to report: the first failing one (by output), else the largest abs error."""
    failing = [c for c in comparisons if not c.ok]
    if failing:
        return failing[0]
    return max(comparisons, key=lambda c: c.worst_abs)
