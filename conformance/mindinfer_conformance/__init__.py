"""The mindinfer conformance suite: shared checks that any backend plugin can run.

    from mindinfer_conformance import SuiteConfig, run_suite, to_text
    result = run_suite("cpu@myplugin", SuiteConfig(min_coverage=0.5))
    assert result.ok, to_text(result)

or ``mindinfer conformance --target cpu@myplugin`` or
``pytest --pyargs mindinfer_conformance --mindinfer-target cpu@myplugin``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cases import Case, Requirements, discover
    from .compare import Comparison, Tolerance, compare, tolerance_for
    from .config import SuiteConfig
    from .report import Matrix, to_json, to_markdown, to_text
    from .results import CaseResult, SuiteResult, Summary
    from .runner import run_all, run_case, run_suite

# Names are imported on first use: pytest imports this package (for the pytest11 plugin) in every
# run of any project where it is installed, and that must stay cheap and must not import mindinfer.
_WHERE = {
    **dict.fromkeys(("Case", "Requirements", "discover"), "cases"),
    **dict.fromkeys(("Comparison", "Tolerance", "compare", "tolerance_for"), "compare"),
    **dict.fromkeys(("Matrix", "to_json", "to_markdown", "to_text"), "report"),
    **dict.fromkeys(("CaseResult", "SuiteResult", "Summary"), "results"),
    "SuiteConfig": "config",
    **dict.fromkeys(("run_all", "run_case", "run_suite"), "runner"),
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Case",
    "CaseResult",
    "Comparison",
    "Matrix",
    "Requirements",
    "SuiteConfig",
    "SuiteResult",
    "Summary",
    "Tolerance",
    "compare",
    "discover",
    "run_all",
    "run_case",
    "run_suite",
    "to_json",
    "to_markdown",
    "to_text",
    "tolerance_for",
]
