"""MindSpore's primitive signatures, owned by core so that no backend re-learns them.

A MindIR node carries a primitive's arguments in one of two forms: MindSpore 1.x primitives keep
the non-tensor ones as attributes (``node.attrs``), MindSpore 2.x "primitive functions" pass every
argument as an input, constants included, in the signature's order. Enum-valued arguments arrive
as strings in one form and as MindSpore's enum codes in the other. This module knows, for every
primitive the bundled backends run, each argument's name, input position, attribute name(s),
default and decoding, so a backend asks by name::

    node.arg("epsilon")       # 1e-05, whichever form the export used
    node.arg("pad_mode")      # "same" (from "SAME", "same" or the code 1)
    node.arg("data_format")   # "NHWC" (from "NHWC" or the code 1)
    node.arg("stride")        # (2, 2)  (from 2, (2, 2) or Conv2D's (1, 1, 2, 2))
    node.args()               # every argument by name

An argument computed at run time reads as :data:`RUNTIME`. A primitive core has no signature for
is an explicit state: :func:`signature` returns None and :meth:`Node.arg` raises
:class:`~mindinfer.errors.ArgumentError` saying so (add it with ``tools/make_signatures.py``).

Decodings (``Param.decode``): ``pad_mode`` -> ``"pad" | "same" | "valid" | "full"``; ``format`` ->
``"NCHW"``, ``"NHWC"``, ``"ND"`` ...; ``approximate`` -> ``"none" | "tanh"``; ``reduction`` ->
``"sum" | "mean" | "none" | "update"``; ``rounding_mode``; ``dtype`` -> a numpy dtype; ``pair`` ->
``(h, w)``; ``pad4`` -> ``(top, bottom, left, right)``. A code MindSpore does not define is an
:class:`~mindinfer.errors.ArgumentError`, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ._signature_table import TABLE
from .dtypes import to_numpy_dtype
from .errors import ArgumentError

__all__ = [
    "APPROXIMATE",
    "FORMATS",
    "PAD_MODES",
    "REDUCTIONS",
    "REQUIRED",
    "ROUNDING_MODES",
    "RUNTIME",
    "Param",
    "Signature",
    "decode",
    "known_primitives",
    "pair",
    "signature",
]


class _Marker:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: What :meth:`Node.arg` returns for an argument computed at run time.
RUNTIME: Any = _Marker("RUNTIME")
#: The default of a required argument.
REQUIRED: Any = _Marker("REQUIRED")

# MindSpore's enum codes (mindapi/base/types.h, mindapi/base/format.h, ops/include/op_enum.h of 2.10).
PAD_MODES = {0: "pad", 1: "same", 2: "valid", 3: "full"}
FORMATS = {0: "NCHW", 1: "NHWC", 2: "NHWC4", 11: "NC", 14: "NCDHW", 15: "NWC", 16: "NCW", 17: "NDHWC", 20: "ND"}
APPROXIMATE = {0: "none", 1: "tanh"}
REDUCTIONS = {0: "sum", 1: "mean", 2: "none", 3: "update"}
ROUNDING_MODES = {0: "round", 1: "trunc", 2: "floor", 3: "ceil"}
# Read back from 2.10's str_to_enum (mindspore.ops._utils.arg_handler) for GridSampler2D and Scatter.
GRID_MODES = {0: "bilinear", 1: "nearest"}
GRID_PADDINGS = {0: "zeros", 1: "border", 2: "reflection"}
SCATTER_REDUCTIONS = {0: "none", 1: "add", 2: "multiply"}

_ENUMS: dict[str, tuple[Mapping[int, str], Callable[[str], str]]] = {
    "pad_mode": (PAD_MODES, str.lower),
    "format": (FORMATS, str.upper),
    "approximate": (APPROXIMATE, str.lower),
    "reduction": (REDUCTIONS, str.lower),
    "rounding_mode": (ROUNDING_MODES, str.lower),
    "grid_mode": (GRID_MODES, str.lower),
    "grid_padding": (GRID_PADDINGS, str.lower),
    "scatter_reduce": (SCATTER_REDUCTIONS, str.lower),
}


@dataclass(frozen=True)
class Param:
    """One argument of a primitive.

    ``index`` is its input position when the export passes it as an input (every argument of a
    2.x primitive function; the tensors of a 1.x primitive), None when it is only an attribute.
    ``attrs`` are the attribute names a 1.x export writes it under. ``default`` is
    :data:`REQUIRED` for a required argument. ``decode`` names the decoding applied to its value.
    """

    name: str
    index: int | None
    attrs: tuple[str, ...] = ()
    default: Any = REQUIRED
    decode: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Signature:
    """A primitive's arguments in MindSpore's order."""

    op: str
    params: tuple[Param, ...]

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ArgumentError(self.op, "", f"it has no argument {name!r}; its arguments: {', '.join(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def at(self, index: int) -> Param | None:
        """The argument passed as input ``index``, if any."""
        return next((p for p in self.params if p.index == index), None)


@cache
def signature(op: str) -> Signature | None:
    """The signature of primitive ``op``, or None when core has none (an explicit state, not a default)."""
    rows = TABLE.get(op)
    if rows is None:
        return None
    params = tuple(
        Param(name, index, tuple(attrs), REQUIRED if default is ... else default, dec)
        for name, index, attrs, default, dec in rows
    )
    return Signature(op, params)


def known_primitives() -> frozenset[str]:
    """Every primitive core has a signature for."""
    return frozenset(TABLE)


def decode(param: Param, value: Any, op: str = "", node: str = "") -> Any:
    """``value`` of ``param`` as the signature says to read it (enum codes to names, dtypes...)."""
    kind = param.decode
    if not kind or value is None:
        return value
    if kind in _ENUMS:
        codes, norm = _ENUMS[kind]
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if int(value) not in codes:
                known = ", ".join(f"{k}={v}" for k, v in codes.items())
                raise ArgumentError(op, node, f"{param.name} code {int(value)} is not one MindSpore defines ({known})")
            return codes[int(value)]
        if isinstance(value, str):
            return norm(value)
        raise ArgumentError(op, node, f"{param.name}={value!r} is neither a name nor an enum code")
    if kind == "dtype":
        dt = to_numpy_dtype(value)
        if dt is None:
            raise ArgumentError(op, node, f"{param.name}={value!r} names no dtype mindinfer knows")
        return dt
    if kind == "pair":
        return pair(value, param.name, op, node)
    if kind == "pad4":
        return _pad4(param.name, value, op, node)
    raise ArgumentError(op, node, f"unknown decoding {kind!r} for {param.name}")


def _ints(value: Any) -> tuple[int, ...]:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (int, np.integer)):
        return (int(value),)
    return tuple(int(v) for v in value)


def pair(value: Any, name: str = "value", op: str = "", node: str = "") -> tuple[int, int]:
    """(h, w) from an int, (v,), (h, w) or MindSpore's (1, 1, h, w): the ``pair`` decoding, for
    arguments a primitive defines for any rank (``Convolution``'s stride) once a backend knows it is 2-D."""
    v = _ints(value)
    if len(v) == 1:
        return v[0], v[0]
    if len(v) == 2:
        return v[0], v[1]
    if len(v) == 4:
        return v[2], v[3]
    raise ArgumentError(op, node, f"{name}={value!r} is not a 2-D value")


def _pad4(name: str, value: Any, op: str, node: str) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from an int, (h, w) or a 4-tuple."""
    v = _ints(value)
    if len(v) == 1:
        return (v[0],) * 4  # type: ignore[return-value]
    if len(v) == 2:
        return v[0], v[0], v[1], v[1]
    if len(v) == 4:
        return v  # type: ignore[return-value]
    raise ArgumentError(op, node, f"{name}={value!r} is not a 2-D padding")


def read(
    op: str,
    node: str,
    name: str,
    inputs: Sequence[Any],
    attrs: Mapping[str, Any],
) -> Any:
    """Argument ``name`` of a node, given what is known of each input (:data:`RUNTIME` if nothing).

    The rule behind :meth:`mindinfer.ir.Node.arg`: the input at the argument's position if the node
    has one, else its attribute, else its default. A required argument that is absent is an error.
    """
    sig = signature(op)
    if sig is None:
        raise ArgumentError(
            op, node, "core has no signature for this primitive (add it: tools/make_signatures.py in mindinfer's repo)"
        )
    try:
        param = sig[name]
    except ArgumentError as exc:
        raise ArgumentError(op, node, exc.detail) from None
    if param.index is not None and param.index < len(inputs):
        value = inputs[param.index]
        return value if value is RUNTIME else decode(param, value, op, node)
    for attr in param.attrs:
        if attr in attrs:
            return decode(param, attrs[attr], op, node)
    if param.required:
        where = f"input {param.index}" if param.index is not None else f"attribute {param.attrs[0]!r}"
        raise ArgumentError(op, node, f"required argument {name!r} ({where}) is absent")
    return decode(param, param.default, op, node)
