"""Running cases against the backend under test.

For each op or model case: if it needs a capability the backend does not declare (a primitive, a
dtype, dynamic shapes, control flow) it is *unsupported*; otherwise it is compiled and run on the
backend's device and each output compared with MindSpore's -> *passed* or *failed*. The api tier
(:mod:`.api`) runs first. :func:`run_suite` is what the CLI and the pytest plugin both call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mindinfer._plugins import PluginRegistry, get_registry
from mindinfer.backend import Capabilities
from mindinfer.errors import BackendUnavailableError, MindInferError, UnsupportedOpError

from .api import run_api_tier
from .cases import TIERS, Case, Requirements, discover
from .compare import compare_outputs
from .config import SuiteConfig, close_quietly, describe_error, device_json, environment, tolerance_of
from .results import FAILED, PASSED, UNSUPPORTED, CaseResult, SuiteResult
from .target import BackendUnderTest, installed_backends, resolve_target, target_of

if TYPE_CHECKING:
    from .report import Matrix

__all__ = ["SuiteConfig", "missing_capabilities", "run_all", "run_case", "run_suite"]

Progress = Callable[[CaseResult], None]


def missing_capabilities(req: Requirements, caps: Capabilities) -> list[str]:
    """What ``req`` needs that ``caps`` does not declare, as ``"primitive Erf"``-style phrases (core's check)."""
    return [str(gap) for gap in caps.missing(req.for_core())]


def run_case(but: BackendUnderTest, case: Case, config: SuiteConfig | None = None) -> CaseResult:
    """Run one op or model case on the backend under test. Never raises for a backend's fault."""
    config = config or SuiteConfig()
    try:
        model = case.load_model()
        req = case.requirements(model)
    except MindInferError as exc:
        # The suite's own data or the loader is at fault, but the case still did not pass.
        return CaseResult(
            case.id, case.tier, FAILED, f"could not load the case (the suite's fault, not the backend's): {exc}"
        )
    prims = tuple(sorted(req.primitives))
    missing = missing_capabilities(req, but.backend.capabilities)
    if missing:
        return CaseResult(case.id, case.tier, UNSUPPORTED, "needs " + ", ".join(missing), prims, tuple(missing))

    def failed(message: str, comparisons: list[Any] | None = None) -> CaseResult:
        return CaseResult(case.id, case.tier, FAILED, message, prims, (), comparisons or [])

    try:
        exe = but.backend.compile(model, but.device, config.compile_options())
    except UnsupportedOpError as exc:
        return failed(f"the backend declares every capability this case needs, yet compile refused it: {exc}")
    except Exception as exc:  # noqa: BLE001 -- whatever a backend raises is its failure, reported
        return failed(f"compile raised {describe_error(exc)}")
    try:
        try:
            outputs = list(exe.run(case.inputs()))
        except Exception as exc:  # noqa: BLE001 -- whatever a backend raises is its failure, reported
            return failed(f"run raised {describe_error(exc)}")
        expected = case.expected()
        tols = [tolerance_of(case, i, e, config.precision) for i, e in enumerate(expected)]
        comparisons = compare_outputs(outputs, expected, tols)
    finally:
        close_quietly(exe)
    bad = [c for c in comparisons if not c.ok]
    if bad:
        culprit = f" (primitives: {', '.join(prims)})" if prims else ""
        return failed("; ".join(c.message for c in bad) + culprit, comparisons)
    return CaseResult(case.id, case.tier, PASSED, "", prims, (), comparisons)


def run_suite(
    target: str | BackendUnderTest,
    config: SuiteConfig | None = None,
    *,
    registry: PluginRegistry | None = None,
    cases: Iterable[Case] | None = None,
    progress: Progress | None = None,
) -> SuiteResult:
    """Run the configured tiers against ``target``; never raises for a backend's fault.

    ``cases`` replaces the bundled op/model cases (tests, a vendor's own extra cases).
    """

    config = config or SuiteConfig()
    but = target if isinstance(target, BackendUnderTest) else resolve_target(target, registry)
    data_tiers = [t for t in config.tiers if t != "api"]
    all_cases = list(cases) if cases is not None else discover(TIERS, config.cases_root, config.select)
    if config.select and not all_cases:
        raise MindInferError(f"no conformance case id contains {config.select!r}; e.g. 'softmax' or 'model/'")
    results: list[CaseResult] = []

    def record(result: CaseResult) -> None:
        results.append(result)
        if progress is not None:
            progress(result)

    devices: list[dict[str, Any]] = []
    if "api" in config.tiers:
        for result in run_api_tier(but, all_cases, config, devices):
            record(result)
    for case in all_cases:
        if case.tier in data_tiers:
            record(run_case(but, case, config))
    if not devices:  # the api tier did not run: still say what the backend reports
        with contextlib.suppress(Exception):
            devices = [device_json(d) for d in but.backend.devices()]
    return SuiteResult(
        target=but.target,
        backend=but.name,
        tiers=config.tiers,
        results=results,
        min_coverage=config.min_coverage,
        precision=config.precision,
        environment=environment(but),
        devices=devices,
    )


def run_all(
    config: SuiteConfig | None = None,
    *,
    registry: PluginRegistry | None = None,
    cases: Iterable[Case] | None = None,
    progress: Progress | None = None,
    announce: Callable[[str], None] | None = None,
) -> Matrix:
    """``--all``: the suite on every installed backend (its first device kind), as one matrix."""
    from .report import Matrix

    matrix = Matrix()
    # A plugin that failed to load has no column, but it is not silently absent: the matrix lists
    # it, and fails.
    reg = registry or get_registry()
    matrix.failed_plugins = {p.name: p.error_text for p in reg.plugins if p.status == "failed"}
    backends = installed_backends(registry)
    if not backends:
        raise MindInferError("no backend is installed; see `mindinfer plugins`")
    case_list = list(cases) if cases is not None else None
    for backend in backends:
        try:
            but = resolve_target(target_of(backend), registry)
        except BackendUnavailableError as exc:
            matrix.unavailable[backend.name] = str(exc)
            continue
        if announce is not None:
            announce(backend.name)
        matrix.results.append(run_suite(but, config, cases=case_list, progress=progress))
    return matrix
