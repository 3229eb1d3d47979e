"""RunOptions (time limit, cancel), RunGate (close while runs are in progress), on the null backend."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import mindinfer as mi
import numpy as np
import pytest
from mindinfer import MindInferError, RunCancelledError, RunOptions, Session
from mindinfer._runs import RunGate
from mindinfer.testing import null_registry

CASES = Path(__file__).resolve().parents[2] / "conformance" / "mindinfer_conformance" / "cases" / "model"
TWO = CASES / "two_in_two_out" / "model.mindir"
AB = [np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32)]


def _ab() -> list[np.ndarray]:
    return [np.load(CASES / "two_in_two_out" / f"input_{i}.npy") for i in range(2)]


def test_run_options_validate_timeout() -> None:
    for bad in (0, -1, "1", True):
        with pytest.raises(mi.InvalidOptionError, match="timeout"):
            RunOptions(timeout=bad)  # type: ignore[arg-type]
    assert RunOptions(2).timeout == 2.0 and RunOptions().timeout is None


def test_control_reports_time_limit_and_cancel() -> None:
    opts = RunOptions(timeout=0.05)
    control = opts.start()
    control.check("here")
    time.sleep(0.06)
    with pytest.raises(RunCancelledError, match="here: the run was stopped: it ran past its time limit of 0.05 s"):
        control.check("here")
    opts2 = RunOptions()
    c2 = opts2.start()
    fired = threading.Event()
    undo = c2.on_stop(fired.set)
    opts2.cancel()
    assert fired.wait(1)
    undo()
    with pytest.raises(RunCancelledError, match="cancelled"):
        c2.check("there")


def test_on_stop_fires_at_the_deadline_and_undo_stops_it() -> None:
    fired = threading.Event()
    RunOptions(timeout=0.05).start().on_stop(fired.set)
    assert fired.wait(2)
    late = threading.Event()
    undo = RunOptions(timeout=0.05).start().on_stop(late.set)
    undo()
    assert not late.wait(0.2)


def test_gate_releases_after_the_last_run() -> None:
    released: list[int] = []
    gate = RunGate("closed!")
    gate.enter()
    gate.enter()
    gate.close(lambda: released.append(1))
    assert gate.closed and not released
    with pytest.raises(MindInferError, match="closed!"):
        gate.enter()
    gate.leave()
    assert not released
    gate.leave()
    assert released == [1]
    gate.close(lambda: released.append(2))  # idempotent
    assert released == [1]


def test_null_backend_cannot_stop_early_and_says_so() -> None:
    with Session(TWO, target="null", plugins=null_registry()) as sess:
        with pytest.raises(MindInferError, match="cannot stop a run early"):
            sess.run(_ab(), timeout=1)
        with pytest.raises(mi.InvalidOptionError, match="not both"):
            sess.run(_ab(), timeout=1, run_options=RunOptions())


def test_close_while_runs_are_in_progress_on_the_null_backend() -> None:
    """Runs that started before close() finish; later ones get 'this session is closed'."""
    reg = null_registry()
    errors: list[BaseException] = []
    for _ in range(50):
        sess = Session(TWO, target="null", plugins=reg)
        start = threading.Barrier(5)

        def work(s: Session = sess, b: threading.Barrier = start) -> None:
            b.wait()
            for _ in range(20):
                try:
                    s.run(_ab())
                except MindInferError as exc:
                    if "this session is closed" not in str(exc):
                        errors.append(exc)
                    return
                except BaseException as exc:  # noqa: BLE001 -- any other error is the bug
                    errors.append(exc)
                    return

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        start.wait()
        sess.close()
        for t in threads:
            t.join()
        assert sess._exe.closed  # type: ignore[attr-defined]
    assert not errors, errors[:3]


def test_time_limits_work_in_a_forked_child() -> None:
    """The watchdog thread does not survive fork(); the child starts its own."""
    import os

    fired = threading.Event()
    RunOptions(timeout=0.01).start().on_stop(fired.set)  # the watchdog thread now runs here
    assert fired.wait(2)
    pid = os.fork()
    if pid == 0:
        ok = threading.Event()
        RunOptions(timeout=0.01).start().on_stop(ok.set)
        os._exit(0 if ok.wait(5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
