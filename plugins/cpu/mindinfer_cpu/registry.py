"""Kernel registry: builders keyed by MindSpore primitive name.

A kernel *builder* runs once at compile time. It receives the node and one :class:`Arg` per node
input (a compile-time value for constants, parameters and folded values; a spec for run-time values)
and returns the run-time closure, which is called with every input's value in argument order
(constants included, so simple kernels can take MindSpore's argument list as their signature).
A closure returns one array, or a tuple for nodes with several outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from mindinfer.backend import OpTable
from mindinfer.errors import UnsupportedOpError
from mindinfer.ir import Node, TensorSpec
from mindinfer.primitives import RUNTIME

__all__ = ["KERNELS", "PLUGIN", "Arg", "Builder", "Kernel", "kernel", "param", "simple", "unsupported"]

PLUGIN = "cpu"

Kernel = Callable[..., Any]


@dataclass(frozen=True)
class Arg:
    """One node input as a builder sees it: a known value, or the spec of a run-time value."""

    known: bool
    value: Any = None
    spec: TensorSpec | None = None

    @property
    def shape(self) -> tuple[int, ...] | None:
        """Static shape (``-1`` for dynamic dims), or None when even the rank is unknown."""
        if self.known:
            return tuple(np.shape(self.value))
        return self.spec.shape if self.spec is not None else None

    @property
    def static_shape(self) -> tuple[int, ...] | None:
        """The shape if every dimension is known, else None."""
        shape = self.shape
        return shape if shape is not None and all(d >= 0 for d in shape) else None


Builder = Callable[[Node, list[Arg]], Kernel]

#: Every kernel builder, by primitive name; the backend's capabilities are exactly its names.
KERNELS: OpTable[Builder] = OpTable(PLUGIN)

#: Kernels of nodes the compiler inserts itself (layout conversions); never MindSpore primitives,
#: so they are not capabilities.
INTERNAL: OpTable[Builder] = OpTable(PLUGIN)

#: Register a kernel builder under one or more primitive names (core's duplicate check).
kernel = KERNELS.register


def simple(*names: str) -> Callable[[Kernel], Kernel]:
    """Register a run-time function that needs no compile-time work (it gets every input)."""

    def deco(fn: Kernel) -> Kernel:
        kernel(*names)(lambda node, args: fn)
        return fn

    return deco


def param(node: Node, args: list[Arg], *names: str) -> Any:
    """Argument ``names[0]`` by core's signature table, constants and folded values included (or
    the first of ``names`` the primitive has, for kernels serving primitives that name it
    differently: ``"axis", "dim"``).

    A value only known at run time is unsupported here: kernels are specialized at compile time.
    """
    sig = node.signature
    name = next((n for n in names if sig is not None and n in sig.names), names[0])
    value = node.arg(name, [a.value if a.known else RUNTIME for a in args])
    if value is RUNTIME:
        raise unsupported(node, f"argument {name!r} is computed at run time; the cpu plugin needs it constant")
    return value


def require_known(node: Node, args: list[Arg], index: int, what: str) -> Any:
    """A compile-time value of input ``index``, or UnsupportedOpError saying the run-time variant is missing."""
    if index < len(args) and args[index].known:
        return args[index].value
    raise unsupported(node, f"{what} (input {index}) must be a compile-time constant for the cpu plugin")


def unsupported(node: Node, detail: str) -> UnsupportedOpError:
    """The error for an attribute variant a kernel cannot run."""
    return UnsupportedOpError(node.op, node.name, PLUGIN, detail)
