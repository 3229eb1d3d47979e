"""Reports of a conformance run: JSON (machines), Markdown (humans, CI summaries), terminal text,
and the ``--all`` matrix (rows: cases, columns: backends)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .results import FAILED, PASSED, UNSUPPORTED, CaseResult, SuiteResult

__all__ = ["Matrix", "to_json", "to_markdown", "to_text", "write_json", "write_markdown"]

_SYMBOL: dict[str, str] = {PASSED: "pass", FAILED: "FAIL", UNSUPPORTED: "unsupported"}
_MD_SYMBOL: dict[str, str] = {PASSED: "✅ pass", FAILED: "❌ **FAIL**", UNSUPPORTED: "➖ unsupported"}


def to_json(result: SuiteResult) -> str:
    return json.dumps(result.to_json(), indent=2, sort_keys=False)


def write_json(result: SuiteResult, path: str | Path) -> None:
    Path(path).write_text(to_json(result) + "\n")


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _failure_line(r: CaseResult) -> str:
    return f"{r.id}: {r.message}"


def to_text(result: SuiteResult, verbose: bool = False) -> str:
    """Terminal summary: failures in full, unsupported grouped by what is missing, then the counts."""
    s = result.summary
    lines = [f"mindinfer conformance: target {result.target!r} -> backend {result.backend!r}"]
    dev = result.environment.get("device")
    if dev:
        lines[0] += f" on {dev}"
    if verbose:
        lines += [f"  {_SYMBOL[r.status]:<11} {r.id}" + (f"  {r.message}" if r.message else "") for r in result.results]
    failed = result.by_status(FAILED)
    if failed:
        lines.append(f"FAILED ({len(failed)}):")
        lines += [f"  {_failure_line(r)}" for r in failed]
        suspects = result.suspects()
        if suspects:
            lines.append(f"suspect primitive(s) (used by failing cases only): {', '.join(suspects)}")
    needs = _missing_histogram(result.by_status(UNSUPPORTED))
    if needs:
        lines.append("unsupported cases, by what the backend does not declare:")
        lines += [f"  {what}: {n} case(s)" for what, n in needs[:15]]
        if len(needs) > 15:
            lines.append(f"  ... and {len(needs) - 15} more")
    for tier in result.tiers:
        lines.append(f"  {tier:<6} {result.tier_summary(tier)}")
    lines.append(("PASSED: " if s.ok else "FAILED: ") + str(s))
    return "\n".join(lines)


def _missing_histogram(results: Sequence[CaseResult]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for r in results:
        for m in r.missing or (r.message,):
            counts[m] = counts.get(m, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _backend_line(result: SuiteResult) -> str:
    env = result.environment
    text = f"Backend `{result.backend}`"
    if env.get("plugin"):
        dist = f", {env['distribution']} {env.get('version') or ''}".rstrip() if env.get("distribution") else ""
        text += f" (plugin `{env['plugin']}`{dist})"
    if env.get("device"):
        text += f" on `{env['device']}`"
    return text + f", precision {result.precision}."


def to_markdown(result: SuiteResult) -> str:
    s = result.summary
    out = [
        f"# mindinfer conformance: `{result.target}`",
        "",
        _backend_line(result),
        "",
        f"**{'PASSED' if s.ok else 'FAILED'}**: {s}",
        "",
        "| tier | passed | failed | unsupported | coverage |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for tier in result.tiers:
        t = result.tier_summary(tier)
        out.append(f"| {tier} | {t.passed} | {t.failed} | {t.unsupported} | {t.coverage:.1%} |")
    out.append(f"| **all** | {s.passed} | {s.failed} | {s.unsupported} | {s.coverage:.1%} |")
    failed = result.by_status(FAILED)
    if failed:
        out += [
            "",
            "## Failures",
            "",
            "| case | worst abs | worst rel | output | message |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for r in failed:
            w = r.worst
            cells = (f"{w.worst_abs:.3g}", f"{w.worst_rel:.3g}", str(w.output)) if w is not None else ("", "", "")
            out.append(f"| `{r.id}` | {cells[0]} | {cells[1]} | {cells[2]} | {_md_escape(r.message)} |")
        suspects = result.suspects()
        if suspects:
            out += [
                "",
                f"Suspect primitive(s), used by failing cases and by no passing case: {', '.join(f'`{p}`' for p in suspects)}.",
            ]
    needs = _missing_histogram(result.by_status(UNSUPPORTED))
    if needs:
        out += ["", "## Unsupported (not declared by the backend)", "", "| needs | cases |", "| --- | ---: |"]
        out += [f"| {_md_escape(what)} | {n} |" for what, n in needs]
    out += ["", "## All results", "", "| case | result | detail |", "| --- | --- | --- |"]
    out += [f"| `{r.id}` | {_MD_SYMBOL[r.status]} | {_md_escape(r.message)} |" for r in result.results]
    return "\n".join(out) + "\n"


def write_markdown(result: SuiteResult, path: str | Path) -> None:
    Path(path).write_text(to_markdown(result))


@dataclass
class Matrix:
    """``--all``: one column per backend, one row per case; a backend that could not run is noted."""

    results: list[SuiteResult] = field(default_factory=list)
    #: Backends that could not be run at all (no usable device), with the reason.
    unavailable: dict[str, str] = field(default_factory=dict)
    #: Plugins that failed to load (their backends could not even be listed), with the error.
    failed_plugins: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results) and not self.failed_plugins

    def columns(self) -> list[str]:
        return [r.backend for r in self.results]

    def rows(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.results:
            for c in r.results:
                seen.setdefault(c.id, None)
        return list(seen)

    def cell(self, backend: str, case_id: str) -> str:
        res = next(r for r in self.results if r.backend == backend)
        found = next((c for c in res.results if c.id == case_id), None)
        return found.status if found is not None else ""

    def to_text(self) -> str:
        cols = self.columns()
        rows = self.rows()
        width = max([len(r) for r in rows] + [4])
        colw = [max(len(c), 11) for c in cols]
        head = "case".ljust(width) + "  " + "  ".join(c.ljust(w) for c, w in zip(cols, colw))
        lines = [head, "-" * len(head)]
        for row in rows:
            cells = [_SYMBOL.get(self.cell(c, row), "").ljust(w) for c, w in zip(cols, colw)]
            lines.append(row.ljust(width) + "  " + "  ".join(cells))
        lines.append("-" * len(head))
        cov = [f"{r.summary.coverage:.1%}".ljust(w) for r, w in zip(self.results, colw)]
        lines.append("coverage".ljust(width) + "  " + "  ".join(cov))
        for r in self.results:
            lines.append(f"{r.backend}: {'PASSED' if r.ok else 'FAILED'}: {r.summary}")
        for name, why in self.unavailable.items():
            lines.append(f"{name}: not run: {why}")
        for name, why in self.failed_plugins.items():
            lines.append(f"plugin {name}: FAILED to load: {why} (see `mindinfer plugins`)")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        cols = self.columns()
        out = [
            "# mindinfer conformance matrix",
            "",
            "| case | " + " | ".join(f"`{c}`" for c in cols) + " |",
            "| --- | " + " | ".join("---" for _ in cols) + " |",
        ]
        for row in self.rows():
            out.append(f"| `{row}` | " + " | ".join(_MD_SYMBOL.get(self.cell(c, row), "") for c in cols) + " |")
        out.append("| **coverage** | " + " | ".join(f"**{r.summary.coverage:.1%}**" for r in self.results) + " |")
        out += [
            "",
            *[
                f"- `{r.backend}` (target `{r.target}`): {'PASSED' if r.ok else 'FAILED'}: {r.summary}"
                for r in self.results
            ],
        ]
        out += [f"- `{name}`: not run: {why}" for name, why in self.unavailable.items()]
        out += [f"- plugin `{name}`: **FAILED to load**: {why}" for name, why in self.failed_plugins.items()]
        return "\n".join(out) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "backends": self.columns(),
            "unavailable": self.unavailable,
            "failed_plugins": self.failed_plugins,
            "matrix": {row: {c: self.cell(c, row) for c in self.columns()} for row in self.rows()},
            "reports": [r.to_json() for r in self.results],
        }
