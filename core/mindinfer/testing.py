"""Test helpers: a null backend that "runs" any graph, so core is testable without a real backend.

The null backend computes nothing: every output is zeros, shaped and typed from the graph's
output specs. It exists so that load -> target -> compile -> run -> placement can be exercised
(and so that plugin authors can see the smallest complete backend). Its device kind is ``null``
by default, so it never answers a ``cpu`` or ``gpu`` target unless a test asks it to.

Register it in a test with::

    reg = PluginRegistry(autoload=False)
    reg.register(NullPlugin(), name="null")
    Session(model, target="null", plugins=reg)

or as an entry point (``null = "mindinfer.testing"``): this module implements the hook itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._plugins import PluginRegistry
from .backend import Backend, BackendBase, Capabilities, Device, ExecutableBase, Option
from .hookspecs import hookimpl
from .ir import ForeignModel, Model, TensorSpec

__all__ = ["ANY_PRIMITIVE", "NullBackend", "NullExecutable", "NullPlugin", "null_registry"]


class _AnyPrimitive(frozenset):  # type: ignore[type-arg]
    """A primitive set that contains every name: the null backend "supports" everything."""

    def __contains__(self, item: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANY_PRIMITIVE"


ANY_PRIMITIVE: frozenset[str] = _AnyPrimitive()


class NullExecutable(ExecutableBase):
    """Returns zeros shaped like the output specs; counts its runs."""

    def __init__(self, inputs: list[TensorSpec], outputs: list[TensorSpec], plugin: str, thread_safe: bool) -> None:
        super().__init__(len(inputs), plugin)
        self._inputs, self._outputs = inputs, outputs
        self.thread_safe = thread_safe
        self.runs = 0

    def _run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self.runs += 1  # not atomic on purpose: thread-safety tests see lost updates without a lock
        return [np.zeros(self._shape(spec, inputs), dtype=spec.dtype) for spec in self._outputs]

    def _shape(self, spec: TensorSpec, inputs: list[np.ndarray]) -> tuple[int, ...]:
        # A dynamic output dim takes the size of the first input that is dynamic on the same axis
        # (the batch, in practice), else 1.
        if spec.shape is None:
            return ()
        dims = []
        for axis, d in enumerate(spec.shape):
            if d >= 0:
                dims.append(d)
                continue
            src = next(
                (
                    a.shape[axis]
                    for s, a in zip(self._inputs, inputs)
                    if s.shape and len(s.shape) > axis and s.shape[axis] < 0
                ),
                1,
            )
            dims.append(int(src))
        return tuple(dims)

    can_profile = True

    def _run_profiled(self, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], list[tuple[str, str, float]]]:
        """Like ``run``, with one zero-time record per output (for CLI ``bench --profile`` tests)."""
        outs = self._run(inputs)
        return outs, [(f"null_output_{i}", "Null", 0.0) for i in range(len(outs))]


class NullBackend(BackendBase):
    """A backend that compiles anything and runs nothing. Every field is configurable for tests;
    ``options`` are the options it declares, and ``received`` keeps what each compile was given."""

    name = "null"
    device_kinds: tuple[str, ...] = ("null",)
    priority = 0

    def __init__(
        self,
        name: str = "null",
        device_kinds: tuple[str, ...] = ("null",),
        priority: int = 0,
        usable: bool = True,
        reason: str = "",
        primitives: frozenset[str] = ANY_PRIMITIVE,
        formats: frozenset[str] = frozenset({"mindir"}),
        thread_safe: bool = False,
        n_devices: int = 1,
        options: tuple[Option, ...] | None = None,
    ) -> None:
        self.name = name
        if options is not None:  # else the class's own declaration (a subclass may have one)
            self.options = options
        self.device_kinds = device_kinds
        self.priority = priority
        self.capabilities = Capabilities(
            primitives=primitives,
            dtypes=frozenset({"float16", "float32", "float64", "int32", "int64", "bool"}),
            dynamic_shapes=True,
            control_flow=True,
            formats=formats,
        )
        self._usable, self._reason, self._thread_safe, self._n = usable, reason, thread_safe, n_devices
        self.compiled: list[NullExecutable] = []
        self.received: list[dict[str, Any]] = []

    def devices(self) -> list[Device]:
        return [
            Device(kind, i, f"{self.name} {kind}:{i}", self._usable, "" if self._usable else self._reason)
            for kind in self.device_kinds
            for i in range(self._n)
        ]

    def _compile(self, model: Model | ForeignModel, device: Device, options: dict[str, Any]) -> NullExecutable:
        self.received.append(options)
        exe = NullExecutable(list(model.inputs), list(model.outputs), self.name, self._thread_safe)
        self.compiled.append(exe)
        return exe

    _compile_foreign = _compile


class NullPlugin:
    """A plugin object registering the given backends (default: one :class:`NullBackend`)."""

    def __init__(self, *backends: Backend | BackendBase) -> None:
        self.backends = list(backends) or [NullBackend()]

    @hookimpl
    def register_backends(self, register: Any) -> None:
        for backend in self.backends:
            register(backend)


@hookimpl
def register_backends(register: Any) -> None:
    """Entry-point form: ``null = "mindinfer.testing"`` registers one null backend."""
    register(NullBackend())


def null_registry(*backends: Backend | BackendBase) -> PluginRegistry:
    """A registry with no entry-point plugins and only the given backends (default: null)."""
    registry = PluginRegistry(autoload=False)
    registry.register(NullPlugin(*backends), name="null")
    return registry
