"""The backend boundary: a small Protocol (compile, then run) plus capabilities declared as data.

A plugin registers one or more :class:`Backend` objects (see :mod:`mindinfer.hookspecs`). Core asks
a backend for its :meth:`Backend.devices`, checks the graph against its :class:`Capabilities`, then
calls :meth:`Backend.compile` and runs the returned :class:`Executable`.

Backend authors subclass :class:`BackendBase` and :class:`ExecutableBase`: their public methods do
the shared checks (unsupported primitives at compile time, closed executables, input count) and
call the private ``_compile`` / ``_run`` that the plugin writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._recursion import unguarded_recursion
from ._runs import RunControl, RunGate
from ._weights import check_weight_uses
from .errors import InvalidOptionError, MindInferError, MindIRError, UnsupportedOpError
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
    "Option",
    "resolve_options",
    "unsupported_primitives",
]

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
class Capabilities:
    """What a backend can run, as data (the conformance suite checks it against reality).

    ``primitives`` are MindSpore primitive names; control-flow nodes (``Partial``, ``Switch``,
    ``Call``) are covered by ``control_flow`` instead. ``formats`` are the model formats
    :meth:`Backend.compile` accepts besides MindIR (``"onnx"``).
    """

    primitives: frozenset[str]
    dtypes: frozenset[str] = frozenset({"float32"})
    dynamic_shapes: bool = False
    control_flow: bool = False
    formats: frozenset[str] = frozenset({"mindir"})


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
            text += f" >= {self.minimum:g}"
        return text

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
    """A compiled model, ready to run on one device."""

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run on arrays in graph-input order; returns arrays in graph-output order.

        An executable whose ``cancellable`` attribute is true also takes ``run(inputs, control)``,
        a :class:`~mindinfer.RunControl` to check where it can stop (``control.check(where)``).
        """
        ...

    def close(self) -> None:
        """Release device memory and other resources; ``run`` afterwards raises."""
        ...


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


def unsupported_primitives(model: Model, caps: Capabilities) -> dict[str, list[str]]:
    """Primitives of ``model`` that ``caps`` does not declare, each with the nodes using it."""
    missing: dict[str, list[str]] = {}
    for graph in model.graphs:
        for node in graph.nodes:
            if node.op in CONTROL_FLOW_OPS:
                if not caps.control_flow:
                    missing.setdefault(node.op, []).append(node.name)
            elif node.op not in caps.primitives:
                missing.setdefault(node.op, []).append(node.name)
    return missing


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
        """Check the device, the options and the model against what this backend declares, then compile."""
        resolved = resolve_options(self.options, options, self.name)
        if not device.usable:
            from .errors import BackendUnavailableError

            raise BackendUnavailableError(f"plugin '{self.name}': device {device} is not usable: {device.reason}")
        if isinstance(model, ForeignModel):
            if model.format not in self.capabilities.formats:
                raise UnsupportedOpError(
                    f"<{model.format} file>", model.path, self.name, "this plugin reads MindIR only"
                )
            return self._compile_foreign(model, device, resolved)
        missing = unsupported_primitives(model, self.capabilities)
        if missing:
            op, nodes = next(iter(missing.items()))
            others = f"; also unsupported: {', '.join(sorted(missing)[:10])}" if len(missing) > 1 else ""
            raise UnsupportedOpError(op, nodes[0], self.name, f"used by {len(nodes)} node(s){others}")
        cycle = unguarded_recursion(model)
        if cycle is not None:
            calls = " -> ".join([*cycle, cycle[0]])
            raise MindIRError(
                f"{model.source or 'the model'}: graph '{cycle[0]}' recurses with no Switch to stop it "
                f"({calls}); a run would never end. The file is corrupt, or was not written by mindspore.export"
            )
        check_weight_uses(model)
        if model.is_dynamic and not self.capabilities.dynamic_shapes:
            dyn = next(s for s in model.inputs if s.is_dynamic)
            raise UnsupportedOpError(
                "<dynamic shape>", dyn.name, self.name, f"input {dyn} has a dynamic dimension; export with fixed shapes"
            )
        return self._compile(model, device, resolved)

    def _compile(self, model: Model, device: Device, options: dict[str, Any]) -> Executable:
        raise NotImplementedError

    def _compile_foreign(self, model: ForeignModel, device: Device, options: dict[str, Any]) -> Executable:
        """Compile a non-MindIR file; only called for formats declared in ``capabilities.formats``."""
        raise NotImplementedError


class ExecutableBase:
    """Shared checks for executables: refuses to run once closed, checks the input count.

    ``close()`` is safe while other threads run: runs in progress finish, ``_close`` is called once
    the last of them ends, and runs started afterwards are refused. A subclass that can stop a run
    early overrides ``_run_controlled`` (checking ``control`` where it can stop) and is then
    ``cancellable``.
    """

    def __init__(self, n_inputs: int, plugin: str) -> None:
        self._n_inputs = n_inputs
        self._plugin = plugin
        self._gate = RunGate(f"plugin '{plugin}': this executable was closed; compile the model again")

    @property
    def closed(self) -> bool:
        return self._gate.closed

    @property
    def cancellable(self) -> bool:
        """Whether ``run`` honours a :class:`~mindinfer.RunControl` (time limit, cancellation)."""
        return type(self)._run_controlled is not ExecutableBase._run_controlled

    def run(self, inputs: Sequence[np.ndarray], control: RunControl | None = None) -> list[np.ndarray]:
        if len(inputs) != self._n_inputs:
            from .errors import InvalidInputError

            raise InvalidInputError(f"plugin '{self._plugin}': expected {self._n_inputs} inputs, got {len(inputs)}")
        self._gate.enter()
        try:
            if control is None:
                return self._run(list(inputs))
            control.check(f"plugin '{self._plugin}'")
            return self._run_controlled(list(inputs), control)
        finally:
            self._gate.leave()

    def close(self) -> None:
        self._gate.close(self._close)

    def _run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def _run_controlled(self, inputs: list[np.ndarray], control: RunControl) -> list[np.ndarray]:
        """Run, stopping early with :class:`~mindinfer.RunCancelledError` when ``control`` says so."""
        raise MindInferError(
            f"plugin '{self._plugin}' cannot stop a run early (no time limit or cancellation); "
            "run without RunOptions, or on a target that supports them (cpu, cpu@onnx)"
        )

    def _close(self) -> None:
        """Release resources; the default has none to release."""
