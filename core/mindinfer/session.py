"""``Session``: a model compiled for one device target, run from any thread.

sess = mindinfer.Session("net.mindir", target="gpu,cpu")
outs = sess.run({"x": x})
print(sess.placement)      # which plugin and device, and any fallback taken and why
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from ._inputs import check_inputs, on_device
from ._placement import Placement, place
from ._plugins import PluginRegistry, get_registry
from ._runs import RunControl, RunGate, RunOptions
from .backend import ProfileRecord, plugin_message
from .errors import InvalidInputError, InvalidOptionError, MindInferError, MindIRError, PluginError
from .ir import ForeignModel, Model, TensorSpec
from .targets import parse_target

__all__ = ["Session", "open_model"]

_CLOSED = "this session is closed; create a new Session to run again"


ModelSource = Model | ForeignModel | str | os.PathLike[str] | bytes | bytearray | memoryview


def open_model(
    path: str | os.PathLike[str] | bytes | bytearray | memoryview,
    registry: PluginRegistry | None = None,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    strict: bool = True,
    dec_key: bytes | None = None,
    dec_mode: str = "AES-GCM",
) -> Model | ForeignModel:
    """Load a MindIR file, or any format an installed plugin opens (``open_foreign_model`` hook).

    ``checkpoint``, ``strict``, ``dec_key`` and ``dec_mode`` are :func:`mindinfer.load`'s (MindIR only).
    ``path`` may also be a MindIR file's contents (``bytes``).
    """
    from ._loader import load

    if isinstance(path, (bytes, bytearray, memoryview)):
        return load(path, checkpoint=checkpoint, strict=strict, dec_key=dec_key, dec_mode=dec_mode)
    text = os.fspath(path)
    if Path(text).is_dir():
        raise MindIRError(f"{text}: is a directory; give the path of the model file in it (a .mindir file)")
    if not Path(text).is_file():
        raise MindIRError(f"{text}: no such model file")

    extra: dict[str, Any] = {"checkpoint": checkpoint, "strict": strict, "dec_key": dec_key, "dec_mode": dec_mode}
    suffix = Path(text).suffix.lower()
    if suffix == ".mindir":
        return load(text, **extra)
    foreign = (registry or get_registry()).open_foreign(text)
    if foreign is not None:
        if checkpoint is not None or dec_key is not None:
            raise MindIRError(f"{text}: checkpoints and dec_key apply to MindIR models, not {foreign.format} files")
        return foreign
    try:
        return load(text, **extra)
    except MindIRError as exc:
        if not suffix:
            raise
        raise MindIRError(
            f"{exc}; and no installed plugin opens {suffix!r} files (see `mindinfer plugins`; "
            "for .onnx install the mindinfer-onnx plugin)"
        ) from exc


def _given_model(
    model: Model | ForeignModel, checkpoint: str | os.PathLike[str] | None, strict: bool, dec_key: bytes | None
) -> Model | ForeignModel:
    if dec_key is not None:
        raise MindIRError("dec_key opens an encrypted file; this model is already loaded: pass its path instead")
    if checkpoint is None:
        return model
    if isinstance(model, ForeignModel):
        raise MindIRError(f"{model.path}: checkpoints apply to MindIR models, not {model.format} files")
    from ._checkpoint import apply_checkpoint

    return apply_checkpoint(model, checkpoint, strict)


class Session:
    """A model compiled for a device target.

    ``model_or_path`` is a :class:`~mindinfer.ir.Model` from :func:`mindinfer.load`, a
    :class:`~mindinfer.ir.ForeignModel`, a path, or a MindIR file's contents as ``bytes``.
    ``target`` is a device target string (see :mod:`mindinfer.targets`). ``options`` go to the
    backend's ``compile`` (each backend declares the ones it accepts: ``mindinfer plugins``); for
    a fallback list a mapping under an alternative's name holds options for that alternative only,
    e.g. ``{"gpu": {"precision": "fp16"}, "cpu": {"threads": 4}}`` (see
    :func:`mindinfer.targets.options_for`).
    ``plugins`` replaces the process-wide plugin registry (tests, embedding).
    ``checkpoint``/``strict`` apply a MindSpore checkpoint before compiling, so that weights folded at
    compile time are the checkpoint's; ``dec_key``/``dec_mode`` open an encrypted MindIR path (see
    :func:`mindinfer.load`).
    """

    def __init__(
        self,
        model_or_path: ModelSource,
        target: str = "cpu",
        options: Mapping[str, Any] | None = None,
        *,
        plugins: PluginRegistry | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        strict: bool = True,
        dec_key: bytes | None = None,
        dec_mode: str = "AES-GCM",
    ) -> None:
        registry = plugins or get_registry()
        if isinstance(model_or_path, (Model, ForeignModel)):
            model = _given_model(model_or_path, checkpoint, strict, dec_key)
        else:
            model = open_model(
                model_or_path, registry, checkpoint=checkpoint, strict=strict, dec_key=dec_key, dec_mode=dec_mode
            )
        parsed = parse_target(target, extra_kinds=registry.device_kinds())
        self._model = model
        self._exe, self._placement = place(model, parsed, registry, dict(options or {}))
        self._lock: threading.Lock | None = None if self._exe.thread_safe else threading.Lock()
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
        return bool(self._exe.can_profile)

    @overload
    def run(
        self,
        inputs: Sequence[Any] | Mapping[str, Any],
        output_names: Sequence[str] | None = None,
        *,
        as_dict: Literal[False] = False,
        timeout: float | None = None,
        run_options: RunOptions | None = None,
    ) -> list[np.ndarray]: ...

    @overload
    def run(
        self,
        inputs: Sequence[Any] | Mapping[str, Any],
        output_names: Sequence[str] | None = None,
        *,
        as_dict: Literal[True],
        timeout: float | None = None,
        run_options: RunOptions | None = None,
    ) -> dict[str, np.ndarray]: ...

    def run(
        self,
        inputs: Sequence[Any] | Mapping[str, Any],
        output_names: Sequence[str] | None = None,
        *,
        as_dict: bool = False,
        timeout: float | None = None,
        run_options: RunOptions | None = None,
    ) -> list[np.ndarray] | dict[str, np.ndarray]:
        """Run on a list of arrays (input order) or a dict by name; returns outputs in order.

        ``output_names`` selects outputs by name, in the order given (as onnxruntime's
        ``run(output_names, feeds)``); ``as_dict=True`` returns ``{name: array}`` instead of a list.
        ``timeout`` (seconds) or ``run_options`` (a :class:`RunOptions`, whose ``cancel()`` stops the
        run from another thread) make the run raise :class:`RunCancelledError` instead of going on.
        """
        picks = self._output_indices(output_names)
        arrays = self._prepare(inputs)
        control = self._control(timeout, run_options)
        with self._gate, self._lock or nullcontext():
            if control is None:
                outs = self._plugin_call("run", self._exe.run, arrays)
            else:
                outs = self._plugin_call("run", lambda a: self._exe.run(a, control), arrays)  # type: ignore[call-arg]
        return self._select(self._check_outputs(outs), picks, as_dict)

    def _control(self, timeout: float | None, run_options: RunOptions | None) -> RunControl | None:
        if timeout is not None:
            if run_options is not None:
                raise InvalidOptionError("give timeout or run_options, not both (RunOptions(timeout=...))")
            run_options = RunOptions(timeout)
        if run_options is None:
            return None
        if not self._exe.cancellable:
            raise MindInferError(
                plugin_message(
                    self._placement.plugin,
                    "cannot stop a run early (no time limit or cancellation); run without timeout/run_options, "
                    "or on a target that supports them (cpu, cpu@onnx)",
                )
            )
        return run_options.start()

    def warmup(self, runs: int = 1) -> None:
        """Run ``runs`` times on zero inputs, so that first-run costs (lazy allocation, onnxruntime's
        first-call setup, caches) are paid before the first real request.

        Dynamic dimensions are taken as 1.
        """
        inputs = [np.zeros(tuple(1 if d < 0 else d for d in (s.shape or ())), np.dtype(s.dtype)) for s in self.inputs]
        for _ in range(runs):
            self.run(inputs)

    def run_profiled(self, inputs: Sequence[Any] | Mapping[str, Any]) -> tuple[list[np.ndarray], list[ProfileRecord]]:
        """Like :meth:`run`, plus ``(node, op, seconds)`` records, if the plugin can profile."""
        if not self.can_profile:
            raise MindInferError(
                plugin_message(self._placement.plugin, "offers no profile (its executable's can_profile is False)")
            )
        arrays = self._prepare(inputs)
        with self._gate, self._lock or nullcontext():
            outs, records = self._plugin_call("run_profiled", self._exe.run_profiled, arrays)
        return self._check_outputs(outs), list(records)

    def close(self) -> None:
        """Release the backend's resources; ``run`` afterwards raises.

        Safe while other threads run: their runs finish, and the resources are released when the
        last of them ends.
        """
        self._gate.close(self._exe.close)


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
        return check_inputs(self._model.inputs, inputs, self._exe.accepts_device_arrays)

    def _plugin_call(self, what: str, fn: Any, arrays: list[np.ndarray]) -> Any:
        """A call into the plugin; anything but a mindinfer error becomes a :class:`PluginError`."""
        try:
            return fn(arrays)
        except (MindInferError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # only KeyboardInterrupt escapes a plugin
            raise PluginError(
                f"plugin {self._placement.plugin!r} failed in {what}: {type(exc).__name__}: {exc} "
                "(a bug in the plugin; try another target, see `mindinfer devices`)"
            ) from exc

    def _output_indices(self, names: Sequence[str] | None) -> list[int] | None:
        if names is None:
            return None
        if isinstance(names, str):
            names = [names]
        known = [s.name for s in self._model.outputs]
        picks = []
        for name in names:
            if name not in known:
                guess = difflib.get_close_matches(str(name), known, n=1)
                hint = f" (did you mean {guess[0]!r}?)" if guess else ""
                raise InvalidInputError(f"the model has no output {name!r}{hint}; its outputs are: {', '.join(known)}")
            picks.append(known.index(name))
        return picks

    def _select(
        self, outs: list[np.ndarray], picks: list[int] | None, as_dict: bool
    ) -> list[np.ndarray] | dict[str, np.ndarray]:
        indices = range(len(outs)) if picks is None else picks
        if as_dict:
            return {self._model.outputs[i].name: outs[i] for i in indices}
        return outs if picks is None else [outs[i] for i in picks]

    def _check_outputs(self, outs: Any) -> list[np.ndarray]:
        outs = list(outs)
        if len(outs) != len(self._model.outputs):
            raise PluginError(
                f"plugin {self._placement.plugin!r} broke the contract: returned {len(outs)} outputs, "
                f"the model has {len(self._model.outputs)}"
            )
        # Outputs a plugin leaves on the GPU (an option of that plugin) stay there.
        return [o if isinstance(o, np.ndarray) or on_device(o) else np.asarray(o) for o in outs]
