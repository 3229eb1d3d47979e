"""``Session``: a model compiled for one device target, run from any thread.

sess = mindinfer.Session("net.mindir", target="gpu,cpu")
outs = sess.run({"x": x})
print(sess.placement)      # which plugin and device, and any fallback taken and why
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from ._inputs import check_inputs
from ._placement import Placement, place
from ._plugins import PluginRegistry, get_registry
from ._runs import RunGate, RunOptions
from .errors import InvalidOptionError, MindInferError, MindIRError, PluginError
from .ir import ForeignModel, Model, TensorSpec
from .targets import parse_target

__all__ = ["Session", "open_model"]

ProfileRecord = tuple[str, str, float]
_CLOSED = "this session is closed; create a new Session to run again"


def open_model(path: str | os.PathLike[str], registry: PluginRegistry | None = None) -> Model | ForeignModel:
    """Load a MindIR file, or any format an installed plugin opens (``open_model`` hook)."""
    text = os.fspath(path)
    if not Path(text).is_file():
        raise MindIRError(f"{text}: no such model file")
    from ._loader import load

    suffix = Path(text).suffix.lower()
    if suffix == ".mindir":
        return load(text)
    foreign = (registry or get_registry()).open_model(text)
    if foreign is not None:
        return foreign
    try:
        return load(text)
    except MindIRError as exc:
        if not suffix:
            raise
        raise MindIRError(
            f"{exc}; and no installed plugin opens {suffix!r} files (see `mindinfer plugins`; "
            "for .onnx install the mindinfer-onnx plugin)"
        ) from exc


class Session:
    """A model compiled for a device target.

    ``model_or_path`` is a :class:`~mindinfer.ir.Model` from :func:`mindinfer.load`, a
    :class:`~mindinfer.ir.ForeignModel`, or a path. ``target`` is a device target string (see
    :mod:`mindinfer.targets`). ``options`` go to the backend's ``compile`` unchanged.
    ``plugins`` replaces the process-wide plugin registry (tests, embedding).
    """

    def __init__(
        self,
        model_or_path: Model | ForeignModel | str | os.PathLike[str],
        target: str = "cpu",
        options: Mapping[str, Any] | None = None,
        *,
        plugins: PluginRegistry | None = None,
    ) -> None:
        registry = plugins or get_registry()
        if isinstance(model_or_path, (Model, ForeignModel)):
            model = model_or_path
        else:
            model = open_model(model_or_path, registry)
        parsed = parse_target(target, extra_kinds=registry.device_kinds())
        self._model = model
        self._exe, self._placement = place(model, parsed, registry, dict(options or {}))
        self._lock: threading.Lock | None = None if getattr(self._exe, "thread_safe", False) else threading.Lock()
        self._gate = RunGate(_CLOSED)

    @property
    def model(self) -> Model | ForeignModel:
        return self._model

    @property
    def inputs(self) -> list[TensorSpec]:
        return list(self._model.inputs)

    @property
    def outputs(self) -> list[TensorSpec]:
        return list(self._model.outputs)

    @property
    def placement(self) -> Placement:
        """Which plugin and device run the model, the target alternative used, and fallbacks taken."""
        return self._placement

    @property
    def can_profile(self) -> bool:
        return callable(getattr(self._exe, "run_profiled", None))

    def run(
        self,
        inputs: Sequence[Any] | Mapping[str, Any],
        *,
        timeout: float | None = None,
        run_options: RunOptions | None = None,
    ) -> list[np.ndarray]:
        """Run on a list of arrays (input order) or a dict by name; returns outputs in order.

        ``timeout`` (seconds) or ``run_options`` (a :class:`RunOptions`, whose ``cancel()`` stops the
        run from another thread) make the run raise :class:`RunCancelledError` instead of going on.
        """
        arrays = self._prepare(inputs)
        if timeout is not None:
            if run_options is not None:
                raise InvalidOptionError("give timeout or run_options, not both (RunOptions(timeout=...))")
            run_options = RunOptions(timeout)
        control = None if run_options is None else run_options.start()
        if control is not None and not getattr(self._exe, "cancellable", False):
            raise MindInferError(
                f"plugin {self._placement.plugin!r} cannot stop a run early (no time limit or cancellation); "
                "run without timeout/run_options, or on a target that supports them (cpu, cpu@onnx)"
            )
        with self._running(), self._lock or nullcontext():
            outs = self._exe.run(arrays) if control is None else self._exe.run(arrays, control)  # type: ignore[call-arg]
        return self._check_outputs(outs)

    def run_profiled(self, inputs: Sequence[Any] | Mapping[str, Any]) -> tuple[list[np.ndarray], list[ProfileRecord]]:
        """Like :meth:`run`, plus ``(node, op, seconds)`` records, if the plugin can profile."""
        if not self.can_profile:
            raise MindInferError(f"plugin {self._placement.plugin!r} offers no profile (no run_profiled)")
        arrays = self._prepare(inputs)
        with self._running(), self._lock or nullcontext():
            outs, records = self._exe.run_profiled(arrays)  # type: ignore[attr-defined]
        return self._check_outputs(outs), list(records)

    def close(self) -> None:
        """Release the backend's resources; ``run`` afterwards raises.

        Safe while other threads run: their runs finish, and the resources are released when the
        last of them ends.
        """
        self._gate.close(self._exe.close)

    @contextmanager
    def _running(self) -> Iterator[None]:
        self._gate.enter()
        try:
            yield
        finally:
            self._gate.leave()

    def __enter__(self) -> Session:  # noqa: PYI034 -- typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        ins = ", ".join(str(s) for s in self.inputs)
        return f"<Session ({ins}) on {self._placement.device} via {self._placement.plugin!r}>"

    def _prepare(self, inputs: Sequence[Any] | Mapping[str, Any]) -> list[np.ndarray]:
        if self._gate.closed:
            raise MindInferError(_CLOSED)
        return check_inputs(self._model.inputs, inputs)

    def _check_outputs(self, outs: Any) -> list[np.ndarray]:
        outs = list(outs)
        if len(outs) != len(self._model.outputs):
            raise PluginError(
                f"plugin {self._placement.plugin!r} broke the contract: returned {len(outs)} outputs, "
                f"the model has {len(self._model.outputs)}"
            )
        return [o if isinstance(o, np.ndarray) else np.asarray(o) for o in outs]
