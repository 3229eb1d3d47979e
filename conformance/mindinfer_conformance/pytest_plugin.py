"""pytest plugin: ``pytest --pyargs mindinfer_conformance --mindinfer-target T``.

Installed through the ``pytest11`` entry point, so it is loaded by every pytest run in an
environment where ``mindinfer-conformance`` is installed. It therefore does nothing unless a test
asks for its fixtures (only ``mindinfer_conformance/test_conformance.py`` does), and without
``--mindinfer-target`` those tests are skipped with the reason, so plain ``pytest`` runs elsewhere
are unaffected.

Each api check and each op/model case is one test: passed, failed (with the worst errors and the
output index) or skipped as ``unsupported: needs ...``. The terminal summary gives the counts and
coverage, and ``--mindinfer-min-coverage`` turns a low coverage into a failed session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

__all__ = ["ConformanceSession"]

_NO_TARGET = "mindinfer conformance: no --mindinfer-target given (run e.g. `pytest --pyargs mindinfer_conformance --mindinfer-target cpu`)"
_KEY = pytest.StashKey["ConformanceSession | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mindinfer", "mindinfer conformance suite")
    group.addoption("--mindinfer-target", default=None, help="the backend under test, e.g. cpu or cpu@onnx")
    group.addoption("--mindinfer-tier", default="api,op,model", help="comma-separated tiers (default: api,op,model)")
    group.addoption(
        "--mindinfer-min-coverage", default="0", help="fail the session when passed/total is below this (0.8 or 80%%)"
    )
    group.addoption("--mindinfer-precision", default="fp32", help="tolerance policy: fp32, fp16 or bf16")
    group.addoption(
        "--mindinfer-option", action="append", default=[], help="a compile option KEY=VALUE for the backend (repeat)"
    )
    group.addoption("--mindinfer-case", default=None, help="only cases whose id contains this text")
    group.addoption("--mindinfer-report", default=None, help="write the JSON report to this file")
    group.addoption("--mindinfer-markdown", default=None, help="write the Markdown report to this file")


class ConformanceSession:
    """The backend under test, the cases, and the results recorded so far (one per pytest session)."""

    def __init__(self, config: pytest.Config) -> None:
        from .cases import discover
        from .cli import parse_coverage, parse_option
        from .config import SuiteConfig

        self.target: str | None = config.getoption("--mindinfer-target")
        self.suite_config = SuiteConfig(
            tiers=config.getoption("--mindinfer-tier"),
            min_coverage=parse_coverage(str(config.getoption("--mindinfer-min-coverage"))),
            precision=config.getoption("--mindinfer-precision"),
            options=dict(parse_option(o) for o in config.getoption("--mindinfer-option")),
            select=config.getoption("--mindinfer-case"),
        )
        self.cases = discover(("op", "model"), select=self.suite_config.select)  # api probes use them too
        self.results: list[Any] = []
        self.devices: list[Any] = []
        self._but: Any = None
        self._api: Any = None
        self._setup_error: BaseException | None = None

    def backend_under_test(self) -> Any:
        from .target import resolve_target

        if self._setup_error is not None:
            raise self._setup_error
        if self._but is None:
            try:
                self._but = resolve_target(str(self.target))
            except Exception as exc:
                self._setup_error = exc
                raise
        return self._but

    def run_api_check(self, name: str) -> Any:
        from .api import API_CHECKS, ApiChecks, run_api_check

        if self._api is None:
            self._api = ApiChecks(self.backend_under_test(), self.cases, self.suite_config, self.devices)
        check = dict(API_CHECKS)[name]
        return self._record(run_api_check(self._api, name, check))

    def run_case(self, case: Any) -> Any:
        from .runner import run_case

        return self._record(run_case(self.backend_under_test(), case, self.suite_config))

    def _record(self, result: Any) -> Any:
        self.results.append(result)
        return result

    def suite_result(self) -> Any:
        from .config import environment
        from .results import SuiteResult

        env = environment(self._but) if self._but is not None else {}
        return SuiteResult(
            target=str(self.target),
            backend=self._but.name if self._but is not None else "?",
            tiers=self.suite_config.tiers,
            results=self.results,
            min_coverage=self.suite_config.min_coverage,
            precision=self.suite_config.precision,
            environment=env,
            devices=self.devices,
        )


def _session(config: pytest.Config) -> ConformanceSession | None:
    if _KEY not in config.stash:
        config.stash[_KEY] = ConformanceSession(config) if config.getoption("--mindinfer-target") else None
    return config.stash[_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the suite's two test functions over api checks and op/model cases."""
    names = metafunc.fixturenames
    if "mindinfer_api_check" not in names and "mindinfer_case" not in names:
        return
    session = _session(metafunc.config)
    if session is None:
        key = "mindinfer_api_check" if "mindinfer_api_check" in names else "mindinfer_case"
        metafunc.parametrize(key, [pytest.param(None, marks=pytest.mark.skip(reason=_NO_TARGET), id="no-target")])
        return
    if "mindinfer_api_check" in names:
        from .api import API_CHECKS

        checks = [n for n, _ in API_CHECKS] if "api" in session.suite_config.tiers else []
        metafunc.parametrize("mindinfer_api_check", checks, ids=[f"api/{n}" for n in checks])
    else:
        cases = [c for c in session.cases if c.tier in session.suite_config.tiers]
        metafunc.parametrize("mindinfer_case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="session")
def mindinfer_conformance(request: pytest.FixtureRequest) -> ConformanceSession:
    """The conformance session: resolves the target once; skips when no target was given."""
    session = _session(request.config)
    if session is None:
        pytest.skip(_NO_TARGET)
    try:
        session.backend_under_test()
    except Exception as exc:  # noqa: BLE001 -- any resolution error is the whole session's error
        pytest.fail(f"mindinfer conformance: cannot use target {session.target!r}: {exc}", pytrace=False)
    return session


def _verdict(result: Any) -> None:
    if result.status == "unsupported":
        pytest.skip(f"unsupported: {result.message}")
    if result.status == "failed":
        pytest.fail(f"{result.id}: {result.message}", pytrace=False)


def check_api(session: ConformanceSession, name: str) -> None:
    """Run one api check as a test."""
    _verdict(session.run_api_check(name))


def check_case(session: ConformanceSession, case: Any) -> None:
    """Run one op/model case as a test."""
    _verdict(session.run_case(case))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(_KEY, None)
    if session is None or not session.results:
        return
    result = session.suite_result()
    tr = terminalreporter
    tr.write_sep("=", "mindinfer conformance")
    tr.write_line(f"target {result.target!r} -> backend {result.backend!r}")
    for tier in result.tiers:
        tr.write_line(f"  {tier:<6} {result.tier_summary(tier)}")
    suspects = result.suspects()
    if suspects:
        tr.write_line(f"suspect primitive(s) (used by failing cases only): {', '.join(suspects)}")
    tr.write_line(("PASSED: " if result.ok else "FAILED: ") + str(result.summary))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    conf = session.config.stash.get(_KEY, None)
    if conf is None or not conf.results:
        return
    from .report import write_json, write_markdown

    result = conf.suite_result()
    report = session.config.getoption("--mindinfer-report")
    markdown = session.config.getoption("--mindinfer-markdown")
    if report:
        write_json(result, Path(report))
    if markdown:
        write_markdown(result, Path(markdown))
    if not result.summary.coverage_ok and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
