"""The api tier: the plugin contract itself, checked on the backend under test.

Each check is one result named ``api/<check>``. Checks that need a model use a *probe*: a bundled
case whose needs the backend declares (see :func:`find_probe`) -- so the probe exercises real
kernels, and its answer is checked against MindSpore's, not just run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from mindinfer.backend import SUPPORTED_CONTRACT_VERSIONS, Capabilities, Device
from mindinfer.errors import InvalidInputError, MindInferError, UnsupportedOpError
from mindinfer.ir import Graph, Model, Node, Ref, TensorSpec

from .cases import Case
from .compare import compare_outputs
from .config import SuiteConfig, close_quietly, describe_error, device_json, tolerance_of
from .results import FAILED, PASSED, UNSUPPORTED, CaseResult
from .target import BackendUnderTest, target_of

__all__ = ["API_CHECKS", "NO_SUCH_PRIMITIVE", "find_probe", "run_api_tier", "unsupported_model"]

#: A primitive name no backend can have: the unsupported-op check compiles a graph that uses it.
NO_SUCH_PRIMITIVE = "NoSuchPrimitive"
THREADS = 4
RUNS_PER_THREAD = 3


class _Fail(Exception):
    """A check's verdict: the backend broke the contract (the message says how)."""


class _Unsupported(Exception):
    """A check cannot run because the backend declares too little."""


def unsupported_model() -> Model:
    """A one-node graph applying :data:`NO_SUCH_PRIMITIVE`, built by hand (no file)."""
    spec = TensorSpec("x", (2, 3), "float32")
    out = TensorSpec("y", (2, 3), "float32")
    node = Node("no_such_node", NO_SUCH_PRIMITIVE, [Ref("x")], ["y"], out_specs=[out])
    return Model(Graph("main", [spec], [Ref("y")], [node], output_specs=[out]), source="<conformance: unsupported op>")


def find_probe(but: BackendUnderTest, cases: Sequence[Case]) -> Case | None:
    """The case the api checks run: fixed shapes, no control flow, everything declared.

    A whole network is preferred, the one with the most distinct primitives, so that the repeat
    and thread checks exercise many kernels; an op case (smallest first) only when no network fits.
    """
    caps = but.backend.capabilities
    candidates: list[tuple[tuple[int, int, int, str], Case]] = []
    for case in cases:
        if case.broken or not case.model_path.is_file():
            continue
        try:
            req = case.requirements()
        except MindInferError:
            continue
        if req.dynamic_shape or req.control_flow or caps.missing(req.for_core()):
            continue
        size = case.model_path.stat().st_size
        candidates.append(((case.tier != "model", -len(req.primitives), size, case.id), case))
    return min(candidates, key=lambda kc: kc[0])[1] if candidates else None


class ApiChecks:
    def __init__(self, but: BackendUnderTest, cases: Sequence[Case], config: SuiteConfig, devices: list[Any]) -> None:
        self.but, self.cases, self.config, self.devices = but, cases, config, devices
        self.backend = but.backend
        self._probe: Case | None = None
        self._probe_searched = False

    # -- helpers ---------------------------------------------------------------------------
    @property
    def probe(self) -> Case:
        if not self._probe_searched:
            self._probe, self._probe_searched = find_probe(self.but, self.cases), True
        if self._probe is None:
            raise _Unsupported("needs at least one case the backend declares support for; it declares none")
        return self._probe

    def compile_probe(self) -> tuple[Any, Case]:
        case = self.probe
        try:
            return self.backend.compile(case.load_model(), self.but.device, self.config.compile_options()), case
        except Exception as exc:
            raise _Fail(f"compiling the probe case {case.id} raised {describe_error(exc)}") from exc

    def run(self, exe: Any, inputs: list[np.ndarray], what: str) -> list[np.ndarray]:
        try:
            return list(exe.run(inputs))
        except Exception as exc:
            raise _Fail(f"{what} raised {describe_error(exc)}") from exc

    # -- checks ----------------------------------------------------------------------------
    def declaration(self) -> str:
        """name, contract version, device kinds and capabilities are well-formed data."""
        b = self.backend
        problems = []
        if not isinstance(b.name, str) or not b.name:
            problems.append(f"name must be a non-empty string, got {b.name!r}")
        if b.contract_version not in SUPPORTED_CONTRACT_VERSIONS:
            problems.append(
                f"contract_version {b.contract_version!r} is not one of {sorted(SUPPORTED_CONTRACT_VERSIONS)}"
            )
        caps = b.capabilities
        if not isinstance(caps, Capabilities):
            problems.append(f"capabilities must be a mindinfer.Capabilities, got {type(caps).__name__}")
        else:
            for dt in caps.dtypes:
                try:
                    np.dtype(dt)
                except TypeError:
                    problems.append(f"declared dtype {dt!r} is not a numpy dtype name")
        if problems:
            raise _Fail("; ".join(problems))
        return f"{len(caps.primitives)} primitives, dtypes {', '.join(sorted(caps.dtypes))}"

    def devices_probed(self) -> str:
        """devices() returns Device objects of the declared kinds; unusable ones say why."""
        try:
            devices = list(self.backend.devices())
        except Exception as exc:
            raise _Fail(f"devices() raised {describe_error(exc)}") from exc
        self.devices.extend(device_json(d) for d in devices if isinstance(d, Device))
        if not devices:
            raise _Fail("devices() returned no device; report unusable ones with usable=False and a reason")
        problems = [f"{d!r} is not a mindinfer.Device" for d in devices if not isinstance(d, Device)]
        good = [d for d in devices if isinstance(d, Device)]
        problems += [
            f"{d} has kind {d.kind!r}, not one of {list(self.backend.device_kinds)}"
            for d in good
            if d.kind not in self.backend.device_kinds
        ]
        problems += [f"{d} is unusable without a reason" for d in good if not d.usable and not d.reason]
        if not any(d.usable for d in good):
            problems.append("no device is usable")
        if problems:
            raise _Fail("; ".join(problems))
        return ", ".join(f"{d}{'' if d.usable else ' (unusable: ' + d.reason + ')'}" for d in good)

    def compile_run(self) -> str:
        """compile, then run: outputs are arrays matching MindSpore's answer."""
        exe, case = self.compile_probe()
        try:
            outs = self.run(exe, case.inputs(), f"running the probe case {case.id}")
        finally:
            exe.close()
        not_arrays = [i for i, o in enumerate(outs) if not isinstance(o, np.ndarray)]
        if not_arrays:
            raise _Fail(f"run returned non-array output(s) {not_arrays} for {case.id}; return numpy arrays")
        expected = case.expected()
        tols = [tolerance_of(case, i, e, self.config.precision) for i, e in enumerate(expected)]
        bad = [c for c in compare_outputs(outs, expected, tols) if not c.ok]
        if bad:
            raise _Fail(f"probe case {case.id}: " + "; ".join(c.message for c in bad))
        return f"probe case {case.id}"

    def run_twice(self) -> str:
        """the same executable run twice gives the same answer (bit for bit)."""
        exe, case = self.compile_probe()
        try:
            first = self.run(exe, case.inputs(), "the first run")
            second = self.run(exe, case.inputs(), "the second run of the same executable")
        finally:
            exe.close()
        diff = _first_difference(first, second)
        if diff:
            raise _Fail(f"probe case {case.id}: the second run differs from the first: {diff}")
        return f"probe case {case.id}"

    def threads(self) -> str:
        """runs from several threads at once give the first run's answer."""
        exe, case = self.compile_probe()
        thread_safe = bool(exe.thread_safe)
        # Session serializes run() for executables that do not declare thread_safe; do the same.
        lock: threading.Lock | None = None if thread_safe else threading.Lock()
        inputs = case.inputs()
        errors: list[str] = []
        diffs: list[str] = []
        try:
            reference = self.run(exe, inputs, "the first run")
            barrier = threading.Barrier(THREADS)

            def worker(k: int) -> None:
                try:
                    barrier.wait(timeout=30)
                    for _ in range(RUNS_PER_THREAD):
                        if lock is None:
                            outs = list(exe.run([a.copy() for a in inputs]))
                        else:
                            with lock:
                                outs = list(exe.run([a.copy() for a in inputs]))
                        d = _first_difference(reference, outs)
                        if d:
                            diffs.append(f"thread {k}: {d}")
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"thread {k}: {describe_error(exc)}")

            pool = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(THREADS)]
            for t in pool:
                t.start()
            for t in pool:
                t.join(timeout=120)
            if any(t.is_alive() for t in pool):
                errors.append("a thread did not finish within 120 s (deadlock?)")
        finally:
            exe.close()
        if errors or diffs:
            raise _Fail(f"probe case {case.id}: " + "; ".join((errors + diffs)[:3]))
        mode = "concurrently (thread_safe)" if thread_safe else "serialized (not thread_safe, as Session does)"
        return f"probe case {case.id}, {THREADS} threads x {RUNS_PER_THREAD} runs {mode}"

    def invalid_inputs(self) -> str:
        """wrong inputs are refused with InvalidInputError, by the executable and through Session."""
        exe, case = self.compile_probe()
        inputs = case.inputs()
        problems = []
        try:
            for label, bad in (("one input too many", [*inputs, inputs[0]]), ("no inputs", [])):
                try:
                    exe.run(bad)
                    problems.append(f"executable.run with {label} did not raise")
                except InvalidInputError:
                    pass
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"executable.run with {label} raised {describe_error(exc)}, not InvalidInputError")
        finally:
            exe.close()
        problems += self._session_refusals(case, inputs)
        if problems:
            raise _Fail(f"probe case {case.id}: " + "; ".join(problems))
        return f"probe case {case.id}: wrong count, dtype, shape and name refused"

    def _session_refusals(self, case: Case, inputs: list[np.ndarray]) -> list[str]:
        from mindinfer.session import Session

        try:
            sess = Session(
                case.load_model(),
                target=target_of(self.backend),
                plugins=self.but.registry,
                options=self.config.compile_options(),
            )
        except Exception as exc:  # noqa: BLE001
            return [f"Session(target={target_of(self.backend)!r}) raised {describe_error(exc)}"]
        problems = []
        x = inputs[0]
        wrong_dtype = x.astype(np.float64 if x.dtype != np.float64 else np.float32)
        wrong_shape = np.concatenate([x, x], axis=-1) if x.ndim else x.reshape(1)
        name = sess.inputs[0].name
        attempts: list[tuple[str, Any]] = [
            ("a wrong dtype", [wrong_dtype, *inputs[1:]]),
            ("a wrong shape", [wrong_shape, *inputs[1:]]),
            (
                "a misspelled input name",
                {name + "_typo": x, **{s.name: a for s, a in zip(sess.inputs[1:], inputs[1:])}},
            ),
        ]
        try:
            for label, given in attempts:
                try:
                    sess.run(given)
                    problems.append(f"Session.run with {label} did not raise")
                except InvalidInputError:
                    pass
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"Session.run with {label} raised {describe_error(exc)}, not InvalidInputError")
        finally:
            sess.close()
        return problems

    def unsupported_op(self) -> str:
        """a primitive the backend lacks raises UnsupportedOpError at compile time, naming it."""
        model = unsupported_model()
        try:
            exe = self.backend.compile(model, self.but.device, self.config.compile_options())
        except UnsupportedOpError as exc:
            if exc.primitive != NO_SUCH_PRIMITIVE:
                raise _Fail(f"UnsupportedOpError names primitive {exc.primitive!r}, not {NO_SUCH_PRIMITIVE!r}") from exc
            return f"UnsupportedOpError: {exc}"
        except Exception as exc:
            raise _Fail(
                f"compiling a graph with primitive {NO_SUCH_PRIMITIVE!r} raised {describe_error(exc)}, not UnsupportedOpError"
            ) from exc
        close_quietly(exe)
        raise _Fail(
            f"compiling a graph with primitive {NO_SUCH_PRIMITIVE!r} succeeded; a backend must raise "
            "UnsupportedOpError at compile time (BackendBase.compile does, from the declared capabilities)"
        )

    def capabilities(self) -> str:
        """every model case the declared capabilities cover compiles; the others raise UnsupportedOpError."""
        caps = self.backend.capabilities
        problems, checked = [], 0
        for case in [c for c in self.cases if c.tier == "model"]:
            try:
                model = case.load_model()
            except MindInferError:
                continue
            gaps = caps.missing(model)
            should_refuse = bool(gaps)
            checked += 1
            try:
                exe = self.backend.compile(model, self.but.device, self.config.compile_options())
            except UnsupportedOpError as exc:
                if not should_refuse:
                    problems.append(f"{case.id}: every primitive is declared, yet compile raised: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{case.id}: compile raised {describe_error(exc)}")
                continue
            close_quietly(exe)
            if should_refuse:
                what = ", ".join(str(g) for g in gaps)
                problems.append(f"{case.id}: compiled although {what} is not declared (raise UnsupportedOpError)")
        if problems:
            raise _Fail("; ".join(problems))
        return f"{checked} model case(s) compile exactly as declared"

    def close(self) -> str:
        """close() releases, is idempotent, and a closed executable refuses to run."""
        exe, case = self.compile_probe()
        try:
            exe.close()
        except Exception as exc:
            raise _Fail(f"close() raised {describe_error(exc)}") from exc
        try:
            exe.close()
        except Exception as exc:
            raise _Fail(f"a second close() raised {describe_error(exc)}; close must be idempotent") from exc
        if getattr(exe, "closed", True) is not True:
            raise _Fail("the executable's `closed` is not True after close()")
        try:
            exe.run(case.inputs())
        except MindInferError:
            return f"probe case {case.id}"
        except Exception as exc:
            raise _Fail(f"running a closed executable raised {describe_error(exc)}, not a MindInferError") from exc
        raise _Fail("a closed executable ran; it must raise a MindInferError")


#: ``(check id, method)`` in the order they run.
API_CHECKS: tuple[tuple[str, Callable[[ApiChecks], str]], ...] = (
    ("declaration", ApiChecks.declaration),
    ("devices", ApiChecks.devices_probed),
    ("compile_run", ApiChecks.compile_run),
    ("run_twice", ApiChecks.run_twice),
    ("threads", ApiChecks.threads),
    ("invalid_inputs", ApiChecks.invalid_inputs),
    ("unsupported_op", ApiChecks.unsupported_op),
    ("capabilities", ApiChecks.capabilities),
    ("close", ApiChecks.close),
)


def run_api_tier(
    but: BackendUnderTest, cases: Sequence[Case], config: SuiteConfig, devices: list[Any] | None = None
) -> Iterator[CaseResult]:
    """Every api check, in order; ``devices`` receives the probed devices for the report."""
    api = ApiChecks(but, cases, config, devices if devices is not None else [])
    for name, check in API_CHECKS:
        yield run_api_check(api, name, check)


def run_api_check(api: ApiChecks, name: str, check: Callable[[ApiChecks], str]) -> CaseResult:
    cid = f"api/{name}"
    try:
        return CaseResult(cid, "api", PASSED, check(api))
    except _Unsupported as exc:
        return CaseResult(cid, "api", UNSUPPORTED, str(exc))
    except _Fail as exc:
        return CaseResult(cid, "api", FAILED, str(exc))
    except Exception as exc:  # noqa: BLE001 -- tripping over the unexpected is still failing the check
        return CaseResult(cid, "api", FAILED, f"unexpected {describe_error(exc)}")


def make_api(but: BackendUnderTest, cases: Sequence[Case], config: SuiteConfig) -> ApiChecks:
    """The api checker, for running checks one by one (the pytest plugin)."""
    return ApiChecks(but, cases, config, [])


def _first_difference(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> str:
    if len(a) != len(b):
        return f"{len(b)} outputs instead of {len(a)}"
    for i, (x, y) in enumerate(zip(a, b)):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return f"output {i} is {y.dtype}{list(y.shape)}, was {x.dtype}{list(x.shape)}"
        eq = (x == y) | (np.isnan(x) & np.isnan(y)) if x.dtype.kind in "fc" else x == y
        if not np.all(eq):
            where = tuple(int(k) for k in np.argwhere(~np.asarray(eq))[0])
            return f"output {i} differs at {list(where)}: {y[where]!r} vs {x[where]!r}"
    return ""
