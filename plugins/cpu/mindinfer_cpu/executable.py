"""The compiled model the cpu backend returns."""

from __future__ import annotations

import numpy as np
from mindinfer import RunControl
from mindinfer.backend import ExecutableBase
from mindinfer.ir import Model

from . import parallel
from ._blas import single_threaded_blas
from .registry import PLUGIN
from .runtime import DEFAULT_MAX_LOOP_ITERATIONS, CompiledProgram, Profile


class CpuExecutable(ExecutableBase):
    """A model compiled to per-graph execution plans; reentrant (each run has its own slots)."""

    #: Session does not need to serialize run(): runs share no mutable state.
    thread_safe = True
    #: run_profiled times every kernel call.
    can_profile = True
    #: Runs stop at a RunOptions time limit or cancel(), between kernels and loop trips.
    cancellable = True

    def __init__(
        self, model: Model, threads: int | None, max_loop_iterations: int = DEFAULT_MAX_LOOP_ITERATIONS
    ) -> None:
        super().__init__(len(model.inputs), PLUGIN)
        self.program = CompiledProgram(model, max_loop_iterations)
        #: The ``threads`` option (None: up to :data:`parallel.DEFAULT_MAX_THREADS`, one per core).
        self.threads = threads
        #: The run's one thread pool: numpy loops and matrix-product row blocks (see :mod:`.parallel`).
        self.workers = parallel.Workers(threads or parallel.default_threads())

    def _timed(
        self, inputs: list[np.ndarray], profile: Profile | None, control: RunControl | None = None
    ) -> list[np.ndarray]:
        arrays = [np.asarray(x) for x in inputs]
        # Process-wide, so set at every run (other code may change it) and handed back afterwards.
        # IEEE special values are results here (NaN and infinity flow through, see the README's "NaN and
        # infinity"): numpy's RuntimeWarnings about producing them never reach the user.
        with single_threaded_blas(), parallel.using(self.workers), np.errstate(all="ignore"):
            return self.program.run(arrays, profile, control)

    def _run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return self._timed(inputs, None)

    def _run_controlled(self, inputs: list[np.ndarray], control: RunControl) -> list[np.ndarray]:
        """Checks ``control`` before every kernel call and loop trip."""
        return self._timed(inputs, None, control)

    def _run_profiled(self, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], Profile]:
        """Run once, timing every kernel call: (outputs, [(node_name, primitive, seconds), ...])."""
        profile: Profile = []
        return self._timed(inputs, profile), profile

    def _close(self) -> None:
        # Called by the gate once no run is in progress, so nothing reads these afterwards.
        self.workers.close()
        self.program = None  # type: ignore[assignment]
