"""Run-time limits and the bookkeeping that makes ``close()`` safe while runs are in progress.

:class:`RunOptions` is what a user passes to ``Session.run``: a time limit and a cancellation flag,
as onnxruntime's ``RunOptions.terminate``. Each run turns it into a :class:`RunControl` that the
backend checks where it can stop (the cpu plugin: between kernels and loop iterations; the onnx
plugin: onnxruntime's own ``RunOptions.terminate``).

:class:`RunGate` counts the runs in progress so that ``close()`` never pulls resources from under
one: a run that started before ``close()`` finishes normally, and the resources are released when
the last such run ends; a run that starts after ``close()`` is refused with a clear error.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
from collections.abc import Callable

from .errors import InvalidOptionError, MindInferError, RunCancelledError

__all__ = ["RunControl", "RunGate", "RunOptions"]


class RunOptions:
    """Limits for runs: ``timeout`` in seconds (per run), and :meth:`cancel` from any thread.

    ``sess.run(x, run_options=opts)`` raises :class:`~mindinfer.RunCancelledError` once the run has
    taken longer than ``timeout`` or ``opts.cancel()`` was called (every run using ``opts`` stops).
    A backend stops at its next check: between kernels, not inside one.
    """

    def __init__(self, timeout: float | None = None) -> None:
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise InvalidOptionError(f"RunOptions: timeout={timeout!r} is not valid; give seconds > 0 or None")
        self.timeout = None if timeout is None else float(timeout)
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop every run using these options (those in progress and any started later)."""
        with self._lock:
            self._cancelled.set()
            listeners = list(self._listeners)
        for notify in listeners:
            notify()

    def start(self) -> RunControl:
        """The control for one run: its deadline counts from now."""
        return RunControl(self)

    def _listen(self, notify: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(notify)
            cancelled = self._cancelled.is_set()
        if cancelled:
            notify()

    def _unlisten(self, notify: Callable[[], None]) -> None:
        with self._lock:
            if notify in self._listeners:
                self._listeners.remove(notify)


class RunControl:
    """One run's view of its :class:`RunOptions`: the backend calls :meth:`check` where it can stop."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.deadline = None if options.timeout is None else time.monotonic() + options.timeout

    def remaining(self) -> float | None:
        """Seconds left before the time limit (never below 0); None without one."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def stop_reason(self) -> str | None:
        """Why the run must stop now, or None to go on."""
        if self.options.cancelled:
            return "cancelled (RunOptions.cancel() was called)"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return f"stopped: it ran past its time limit of {self.options.timeout:g} s (RunOptions.timeout)"
        return None

    def check(self, where: str) -> None:
        """Raise :class:`RunCancelledError` naming ``where`` if the run must stop."""
        reason = self.stop_reason()
        if reason is not None:
            raise RunCancelledError(f"{where}: the run was {reason}")

    def on_stop(self, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify`` (once, from another thread) when the run must stop; returns the undo.

        For backends that stop through a flag of their own (onnxruntime's ``RunOptions.terminate``).
        The deadline is kept by one watchdog thread shared by all runs (starting a timer thread per
        run cost about half a millisecond).
        """
        fired = threading.Event()

        def fire() -> None:
            if not fired.is_set():
                fired.set()
                notify()

        ticket = None if self.deadline is None else _WATCHDOG.add(self.deadline, fire)
        self.options._listen(fire)

        def undo() -> None:
            if ticket is not None:
                _WATCHDOG.remove(ticket)
            self.options._unlisten(fire)

        return undo


class _Watchdog:
    """One daemon thread calling callbacks at their deadlines (started on first use)."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):  # a forked child has no watchdog thread: start afresh there
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._live: set[int] = set()  # tickets in the heap and not removed
        self._next = 0
        self._thread: threading.Thread | None = None

    def add(self, deadline: float, fn: Callable[[], None]) -> int:
        with self._cond:
            self._next += 1
            heapq.heappush(self._heap, (deadline, self._next, fn))
            self._live.add(self._next)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="mindinfer-run-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
            return self._next

    def remove(self, ticket: int) -> None:
        with self._cond:
            self._live.discard(ticket)  # its heap entry is dropped when it comes up

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, ticket, fn = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._live.discard(ticket)
            fn()


_WATCHDOG = _Watchdog()


class RunGate:
    """Counts runs in progress; ``close`` releases resources once none is left.

    ``closed_message`` is the error a run started after :meth:`close` gets.
    """

    def __init__(self, closed_message: str) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._closed = False
        self._release: Callable[[], None] | None = None
        self._message = closed_message

    @property
    def closed(self) -> bool:
        return self._closed

    def enter(self) -> None:
        """Register a run; raises :class:`MindInferError` once closed."""
        with self._lock:
            if self._closed:
                raise MindInferError(self._message)
            self._active += 1

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            release = self._take_release()
        if release is not None:
            release()

    # ``with gate:`` around a run: a plain __enter__/__exit__ costs a third of a @contextmanager,
    # and every Session.run passes two gates (the session's and the executable's).
    def __enter__(self) -> None:
        self.enter()

    def __exit__(self, *exc: object) -> None:
        self.leave()

    def close(self, release: Callable[[], None]) -> None:
        """Refuse new runs; call ``release`` now, or when the last run in progress ends. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._release = release
            release_now = self._take_release()
        if release_now is not None:
            release_now()

    def _take_release(self) -> Callable[[], None] | None:
        if self._closed and self._active == 0 and self._release is not None:
            release, self._release = self._release, None
            return release
        return None
