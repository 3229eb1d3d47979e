"""The backend boundary: everything a backend may do, declared here.

A plugin registers one or more :class:`Backend` objects (see :mod:`mindinfer.hookspecs`). Core asks
a backend for its :meth:`Backend.devices`, checks the model against its :class:`Capabilities`
(:meth:`Capabilities.missing`, the one capability check), then calls :meth:`Backend.compile` with
the user's options (validated against the backend's declared :class:`Option` s) and runs the
returned :class:`Executable`.

What a backend author writes (see ``examples/plugin_template``):

* a :class:`BackendBase` subclass: ``name``, ``device_kinds``, ``priority``, ``capabilities``,
  ``options``, ``devices()`` and ``_compile(model, device, options)``. The public ``compile`` checks
  the device, the options and the capabilities first.
* an :class:`ExecutableBase` subclass: ``_run(inputs)``, optionally ``_close()``, and the declared
  optional behaviour: ``thread_safe = True`` when ``run`` may be called from several threads at
  once, ``can_profile = True`` with ``_run_profiled(inputs)`` for per-node timings.
* kernels registered in an :class:`OpTable`: ``@OPS.register("Conv2D")``; its names are the
  backend's ``Capabilities.primitives``.
* arguments read by name from core's signature table: ``node.arg("pad_mode")`` (see
  :mod:`mindinfer.primitives`), never by hand-written positions or enum codes.
* errors from :mod:`mindinfer.errors`, their text prefixed by :func:`plugin_message`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from ._arguments import check_arguments
from ._recursion import unguarded_recursion
from ._runs import RunControl, RunGate
from ._weights import check_weight_uses
from .errors import (
    ArgumentError,
    BackendUnavailableError,
    InvalidInputError,
    InvalidOptionError,
    MindInferError,
    MindIRError,
    PluginError,
    UnsupportedOpError,
)
from .ir import CONTROL_FLOW_OPS, ForeignModel, Model

__all__ = [
    "CONTRACT_VERSION",
    "SUPPORTED_CONTRACT_VERSIONS",
    "Backend",
    "BackendBase",
    "Capabilities",
    "Device",
    "Executable",
    "ExecutableBase",
    "Gap",
    "OpTable",
    "Option",
    "ProfileRecord",
    "Requirements",
    "check_executable",
    "plugin_message",
    "resolve_options",
]

#: One profile record: (node name, primitive, seconds).
ProfileRecord = tuple[str, str, float]


def plugin_message(plugin: str, text: str) -> str:
    """``text`` prefixed the way every message about a plugin is: ``plugin 'name': text``."""
    return f"plugin {plugin!r}: {text}"


#: The plugin contract version this core implements.
CONTRACT_VERSION = 1
#: Contract versions of plugins that this core can load.
SUPPORTED_CONTRACT_VERSIONS = frozenset({1})


@dataclass(frozen=True)
class Device:
    """One device a backend can run on, probed for real.

    ``kind`` is ``"cpu"``, ``"gpu"`` or ``"ascend"``; ``chip`` refines it (``"ascend310"``).
    ``usable`` is False with ``reason`` saying why (no driver, toolkit missing, ...) and what to do.
    """

    kind: str
    index: int = 0
    name: str = ""
    usable: bool = True
    reason: str = ""
    chip: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        label = f"{self.kind}:{self.index}"
        if self.chip:
            label += f" ({self.chip})"
        return label


@dataclass(frozen=True)
class Requirements:
    """What running a model needs, each need with where it comes from (node or tensor names).

    ``dtypes`` are those of the model's inputs and outputs. Made from a model by :meth:`of`; the
    conformance suite also builds one from a case's declared needs.
    """

    primitives: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dtypes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dynamic_shapes: tuple[str, ...] = ()
    control_flow: tuple[str, ...] = ()
    format: str = "mindir"

    @classmethod
    def of(cls, model: Model | ForeignModel) -> Requirements:
        prims: dict[str, list[str]] = {}
        flow: list[str] = []
        for graph in model.graphs:
            for node in graph.nodes:
                if node.op in CONTROL_FLOW_OPS:
                    flow.append(node.name)
                else:
                    prims.setdefault(node.op, []).append(node.name)
        if isinstance(model, Model) and model.functions and not flow:
            flow.extend(model.functions)
        dtypes: dict[str, list[str]] = {}
        for spec in (*model.inputs, *model.outputs):
            dtypes.setdefault(spec.dtype, []).append(spec.name)
        return cls(
            primitives={k: tuple(v) for k, v in prims.items()},
            dtypes={k: tuple(v) for k, v in dtypes.items()},
            dynamic_shapes=tuple(s.name for s in model.inputs if s.is_dynamic),
            control_flow=tuple(flow),
            format=model.format if isinstance(model, ForeignModel) else "mindir",
        )


@dataclass(frozen=True)
class Gap:
    """One thing a model needs that a backend does not declare.

    ``kind`` is ``"format"``, ``"primitive"``, ``"control flow"``, ``"dtype"`` or ``"dynamic shapes"``;
    ``name`` the format, primitive or dtype (empty for the flags); ``where`` the nodes or tensors.
    """

    kind: str
    name: str = ""
    where: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind} {self.name}" if self.name else self.kind


@dataclass(frozen=True)
class Capabilities:
    """What a backend can run, as data (the conformance suite checks it against reality).

    ``primitives`` are MindSpore primitive names (use an :class:`OpTable`'s ``names()``);
    control-flow nodes (``Partial``, ``Switch``, ``Call``) are covered by ``control_flow`` instead.
    ``dtypes`` are numpy dtype names the model's inputs and outputs may have. ``formats`` are the
    model formats :meth:`Backend.compile` accepts (``"mindir"``, ``"onnx"``).
    """

    primitives: frozenset[str]
    dtypes: frozenset[str] = frozenset({"float32"})
    dynamic_shapes: bool = False
    control_flow: bool = False
    formats: frozenset[str] = frozenset({"mindir"})

    def missing(self, model: Model | ForeignModel | Requirements) -> list[Gap]:
        """Everything ``model`` needs that these capabilities do not declare; empty when covered.

        The one capability check: compile, placement, ``mindinfer inspect``, the conformance suite
        and converters all ask this. Order: format, primitives, control flow, dtypes, dynamic shapes.
        """
        req = model if isinstance(model, Requirements) else Requirements.of(model)
        gaps: list[Gap] = []
        if req.format not in self.formats:
            gaps.append(Gap("format", req.format))
        gaps += [Gap("primitive", op, nodes) for op, nodes in req.primitives.items() if op not in self.primitives]
        if req.control_flow and not self.control_flow:
            gaps.append(Gap("control flow", "", req.control_flow))
        gaps += [Gap("dtype", dt, where) for dt, where in sorted(req.dtypes.items()) if dt not in self.dtypes]
        if req.dynamic_shapes and not self.dynamic_shapes:
            gaps.append(Gap("dynamic shapes", "", req.dynamic_shapes))
        return gaps


F = TypeVar("F", bound=Callable[..., Any])


class OpTable(Generic[F]):
    """A backend's kernels (or lowerings) by MindSpore primitive name; ``names()`` are its primitives.

    ::

        OPS: OpTable[Kernel] = OpTable("mybackend")

        @OPS.register("ReLU", "ReLU6")
        def relu(...): ...

        capabilities = Capabilities(primitives=OPS.names())

    Registering a name twice is a :class:`~mindinfer.errors.PluginError` naming both functions.
    """

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self._ops: dict[str, F] = {}

    def register(self, *names: str) -> Callable[[F], F]:
        """Decorator: register the function under each of ``names``."""

        def deco(fn: F) -> F:
            for name in names:
                if name in self._ops:
                    old = self._ops[name]
                    raise PluginError(
                        plugin_message(
                            self.plugin,
                            f"primitive {name!r} registered twice ({_qualname(old)} and {_qualname(fn)})",
                        )
                    )
                self._ops[name] = fn
            return fn

        return deco

    def names(self) -> frozenset[str]:
        return frozenset(self._ops)

    def get(self, name: str) -> F | None:
        return self._ops.get(name)

    def __getitem__(self, name: str) -> F:
        return self._ops[name]

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __iter__(self) -> Iterator[str]:
        return iter(self._ops)

    def __len__(self) -> int:
        return len(self._ops)


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


@dataclass(frozen=True)
class Option:
    """One compile option a backend accepts, declared as data.

    :class:`BackendBase` checks the options a user passes against these declarations before
    ``_compile`` runs, so a backend's ``_compile`` sees every declared name, with its default where
    the user gave none, and nothing else. ``type`` is what the value must be (``int`` never accepts a
    ``bool``; ``float`` also accepts an ``int``). ``choices`` limits the value to a set, ``minimum``
    bounds a number from below, and ``check`` returns an error text for values the other fields
    cannot describe (``None`` when the value is good).
    """

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)

    def accepts(self) -> str:
        """What this option accepts, in words (for messages and ``mindinfer plugins``)."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        text = " or ".join(t.__name__ for t in types)
        if self.minimum is not None:
            low = self.minimum
            text += f" >= {int(low) if float(low).is_integer() else low}"  # 1048576, not 1.04858e+06
        return text

    def describe(self) -> str:
        """One line for ``mindinfer plugins``: name, what it accepts, default and help."""
        default = "" if self.default is None else f", default {self.default!r}"
        return f"{self.name} ({self.accepts()}{default}): {self.help}".rstrip(": ")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "accepts": self.accepts(),
            "default": self.default,
            "help": self.help,
            "choices": list(self.choices) or None,
        }

    def validate(self, value: Any, plugin: str) -> Any:
        """``value`` if this option accepts it; else :class:`InvalidOptionError` saying what it accepts."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok and float in types and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if ok and self.choices and value not in self.choices:
            ok = False
        if ok and self.minimum is not None and value < self.minimum:
            ok = False
        problem = None if not ok or self.check is None else self.check(value)
        if not ok or problem:
            detail = problem or f"it accepts {self.accepts()}"
            raise InvalidOptionError(f"plugin {plugin!r}: option {self.name}={value!r} is not valid: {detail}")
        return value


def resolve_options(declared: Sequence[Option], given: Mapping[str, Any], plugin: str) -> dict[str, Any]:
    """Every declared option, with the value given or its default; unknown names are an error.

    A value of ``None`` means "not given" and takes the default.
    """
    by_name = {o.name: o for o in declared}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        accepted = ", ".join(by_name) or "no options"
        raise InvalidOptionError(
            f"plugin {plugin!r}: unknown option(s) {', '.join(unknown)}; it accepts: {accepted} "
            "(see `mindinfer plugins`)"
        )
    return {
        name: opt.default if given.get(name) is None else opt.validate(given[name], plugin)
        for name, opt in by_name.items()
    }


@runtime_checkable
class Executable(Protocol):
    """A compiled model, ready to run on one device. :class:`ExecutableBase` gives every default."""

    #: True when ``run`` may be called from several threads at once (Session then does not
    #: serialize calls). Default False.
    thread_safe: bool
    #: True when ``run_profiled`` gives per-node timings. Default False.
    can_profile: bool
    #: True when ``run(inputs, control)`` honours a :class:`~mindinfer.RunControl` (a time limit,
    #: ``RunOptions.cancel()``), checking ``control.check(where)`` where it can stop. Default False.
    cancellable: bool
    #: True when ``run`` takes arrays living on the device (CUDA arrays with
    #: ``__cuda_array_interface__``) as they are, not only numpy arrays. Default False.
    accepts_device_arrays: bool

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run on arrays in graph-input order; returns arrays in graph-output order.

        When ``cancellable`` is True it also takes ``run(inputs, control)``.
        """
        ...

    def run_profiled(self, inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[ProfileRecord]]:
        """Run once, timing each node: (outputs, [(node, primitive, seconds), ...]); only if ``can_profile``."""
        ...

    def close(self) -> None:
        """Release device memory and other resources; ``run`` afterwards raises."""
        ...


def check_executable(exe: object, plugin: str) -> Executable:
    """``exe`` if it has every member of :class:`Executable`, else :class:`PluginError` naming what it lacks."""
    members = ("run", "run_profiled", "close", "thread_safe", "can_profile", "cancellable", "accepts_device_arrays")
    lacking = [m for m in members if not hasattr(exe, m)]
    if lacking:
        raise PluginError(
            plugin_message(
                plugin,
                f"compile returned a {type(exe).__name__} without {', '.join(lacking)}; "
                "executables must provide every member of mindinfer.backend.Executable "
                "(subclass mindinfer.ExecutableBase for the defaults)",
            )
        )
    return exe  # type: ignore[return-value]


@runtime_checkable
class Backend(Protocol):
    """A compiler for one kind of device, registered by a plugin."""

    name: str
    contract_version: int
    device_kinds: tuple[str, ...]
    #: Higher wins when a target names a device kind but no plugin.
    priority: int
    capabilities: Capabilities
    #: The compile options it accepts (see :class:`Option`).
    options: tuple[Option, ...]

    def devices(self) -> list[Device]:
        """Every device of this backend's kinds, each probed: usable, or the reason it is not."""
        ...

    def compile(self, model: Model | ForeignModel, device: Device, options: Mapping[str, Any]) -> Executable:
        """Compile ``model`` for ``device``; raise ``UnsupportedOpError`` for what it cannot run.

        A :class:`ForeignModel` is only passed to backends declaring its format in
        ``capabilities.formats``.
        """
        ...


class BackendBase:
    """Shared checks for backends: declared capabilities are enforced before ``_compile`` runs."""

    name: str
    contract_version: int = CONTRACT_VERSION
    device_kinds: tuple[str, ...] = ("cpu",)
    priority: int = 0
    capabilities: Capabilities
    options: tuple[Option, ...] = ()

    def devices(self) -> list[Device]:
        raise NotImplementedError

    def compile(self, model: Model | ForeignModel, device: Device, options: Mapping[str, Any]) -> Executable:
        """Check the device, the options and the model against what this backend declares, then compile.

        An :class:`~mindinfer.errors.ArgumentError` from ``_compile`` (a node argument that cannot
        be read) becomes an :class:`UnsupportedOpError` naming this plugin.
        """
        resolved = resolve_options(self.options, options, self.name)
        if not device.usable:
            raise BackendUnavailableError(plugin_message(self.name, f"device {device} is not usable: {device.reason}"))
        gaps = self.capabilities.missing(model)
        if gaps:
            raise self._refusal(model, gaps)
        if isinstance(model, Model):
            _check_model(model)
        try:
            if isinstance(model, ForeignModel):
                return self._compile_foreign(model, device, resolved)
            return self._compile(model, device, resolved)
        except ArgumentError as exc:
            raise UnsupportedOpError(exc.primitive, exc.node, self.name, exc.detail) from exc

    def _refusal(self, model: Model | ForeignModel, gaps: list[Gap]) -> UnsupportedOpError:
        gap = gaps[0]
        if gap.kind == "format":
            path = model.path if isinstance(model, ForeignModel) else model.source
            reads = ", ".join(sorted(self.capabilities.formats))
            return UnsupportedOpError(f"<{gap.name} file>", path, self.name, f"this plugin reads {reads} only")
        if gap.kind == "primitive":
            others = [g.name for g in gaps[1:] if g.kind == "primitive"]
            also = f"; also unsupported: {', '.join(sorted(others)[:10])}" if others else ""
            return UnsupportedOpError(gap.name, gap.where[0], self.name, f"used by {len(gap.where)} node(s){also}")
        if gap.kind == "control flow":
            return UnsupportedOpError("<control flow>", gap.where[0], self.name, "this plugin runs no control flow")
        if gap.kind == "dtype":
            declared = ", ".join(sorted(self.capabilities.dtypes))
            return UnsupportedOpError(
                f"<dtype {gap.name}>", gap.where[0], self.name, f"tensor dtype {gap.name}; declared dtypes: {declared}"
            )
        dyn = next(s for s in model.inputs if s.is_dynamic)
        return UnsupportedOpError(
            "<dynamic shape>", dyn.name, self.name, f"input {dyn} has a dynamic dimension; export with fixed shapes"
        )

    def _compile(self, model: Model, device: Device, options: dict[str, Any]) -> Executable:
        raise NotImplementedError

    def _compile_foreign(self, model: ForeignModel, device: Device, options: dict[str, Any]) -> Executable:
        """Compile a non-MindIR file; only called for formats declared in ``capabilities.formats``."""
        raise NotImplementedError


def _check_model(model: Model) -> None:
    """What makes a file unrunnable on any backend: endless recursion, missing arguments, weights
    contradicting their uses."""
    cycle = unguarded_recursion(model)
    if cycle is not None:
        calls = " -> ".join([*cycle, cycle[0]])
        raise MindIRError(
            f"{model.source or 'the model'}: graph '{cycle[0]}' recurses with no Switch to stop it "
            f"({calls}); a run would never end. The file is corrupt, or was not written by mindspore.export"
        )
    check_arguments(model)
    check_weight_uses(model)


class ExecutableBase:
    """Shared checks for executables: refuses to run once closed, checks the input count.

    Subclasses write ``_run`` (and ``_close`` if they hold resources). Optional behaviour is
    declared: set ``thread_safe = True`` when runs share no mutable state, ``can_profile = True``
    with ``_run_profiled`` for per-node timings, and ``cancellable = True`` with ``_run_controlled``
    for runs that stop early (checking the :class:`~mindinfer.RunControl` where they can).

    ``close()`` is safe while other threads run: runs in progress finish, ``_close`` is called once
    the last of them ends, and runs started afterwards are refused.
    """

    #: See :attr:`Executable.thread_safe`.
    thread_safe: bool = False
    #: See :attr:`Executable.can_profile`.
    can_profile: bool = False
    #: See :attr:`Executable.cancellable`.
    cancellable: bool = False
    #: See :attr:`Executable.accepts_device_arrays`.
    accepts_device_arrays: bool = False

    def __init__(self, n_inputs: int, plugin: str) -> None:
        self._n_inputs = n_inputs
        self._plugin = plugin
        self._gate = RunGate(plugin_message(plugin, "this executable was closed; compile the model again"))

    @property
    def closed(self) -> bool:
        return self._gate.closed

    def run(self, inputs: Sequence[np.ndarray], control: RunControl | None = None) -> list[np.ndarray]:
        self._check(inputs)
        if control is not None and not self.cancellable:
            raise MindInferError(
                plugin_message(
                    self._plugin,
                    "this executable cannot stop a run early (no time limit or cancellation); run without "
                    "RunOptions, or on a target that supports them (cpu, cpu@onnx)",
                )
            )
        with self._gate:
            if control is None:
                return self._run(list(inputs))
            control.check(plugin_message(self._plugin, "before the run"))
            return self._run_controlled(list(inputs), control)

    def run_profiled(self, inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[ProfileRecord]]:
        if not self.can_profile:
            raise MindInferError(
                plugin_message(self._plugin, "this executable offers no profile (can_profile is False)")
            )
        self._check(inputs)
        with self._gate:
            return self._run_profiled(list(inputs))

    def _check(self, inputs: Sequence[np.ndarray]) -> None:
        if len(inputs) != self._n_inputs:
            raise InvalidInputError(
                plugin_message(self._plugin, f"expected {self._n_inputs} inputs, got {len(inputs)}")
            )


    def close(self) -> None:
        self._gate.close(self._close)

    def _run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def _run_controlled(self, inputs: list[np.ndarray], control: RunControl) -> list[np.ndarray]:
        """Run, raising :class:`~mindinfer.RunCancelledError` when ``control.check`` says to stop;
        only called when ``cancellable`` is True."""
        raise NotImplementedError

    def _run_profiled(self, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], list[ProfileRecord]]:
        """Outputs and per-node records; only called when ``can_profile`` is True."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release resources; the default has none to release."""
