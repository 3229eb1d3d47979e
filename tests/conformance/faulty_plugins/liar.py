"""Backends whose declared capabilities lie.

* ``erf_raises`` declares ``Erf`` but refuses to compile any graph that uses it;
* ``erf_garbage`` declares ``Erf`` and silently computes ``tanh`` in its place;
* ``declares_little`` computes right answers but declares only a handful of primitives, so nearly
  every case is unsupported: it passes only while no ``--min-coverage`` is asked for.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mindinfer import Model, UnsupportedOpError, hookimpl

from . import cpu_backend
from ._wrap import WrappingBackend

LITTLE = frozenset({"ReLU", "Add", "Abs"})


class ErfRaises(WrappingBackend):
    def __init__(self, inner: Any) -> None:
        super().__init__(
            inner, "erf_raises", replace(inner.capabilities, primitives=inner.capabilities.primitives | {"Erf"})
        )

    def rewrite(self, model: Model) -> Model:
        for graph in model.graphs:
            for node in graph.nodes:
                if node.op == "Erf":
                    raise UnsupportedOpError("Erf", node.name, self.name, "no kernel was ever written for it")
        return model


class ErfGarbage(WrappingBackend):
    def __init__(self, inner: Any) -> None:
        super().__init__(
            inner, "erf_garbage", replace(inner.capabilities, primitives=inner.capabilities.primitives | {"Erf"})
        )

    def rewrite(self, model: Model) -> Model:
        for graph in model.graphs:
            for node in graph.nodes:
                if node.op == "Erf":
                    node.op = "Tanh"  # close enough to fool a glance, wrong by up to 0.08
        return model


class DeclaresLittle(WrappingBackend):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner, "declares_little", replace(inner.capabilities, primitives=LITTLE))


@hookimpl
def register_backends(register: Any) -> None:
    cpu = cpu_backend()
    register(ErfRaises(cpu))
    register(ErfGarbage(cpu))
    register(DeclaresLittle(cpu))
