"""The ONNX graph under construction, and the helpers every lowering uses.

One :class:`GraphBuilder` exists per ONNX graph being written: the main graph, and one per ``If``
branch or ``Loop`` body. Builders nest the way ONNX scopes do, so a branch reads a value of its
enclosing graph simply by name. All builders of one conversion share a :class:`Conversion` (unique names,
initializers, the IR-to-ONNX name map's fallbacks, the opset).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from mindinfer import ir
from mindinfer.errors import UnsupportedOpError

from . import _onnx_pb as helper

if TYPE_CHECKING:  # the onnx package itself is never imported to convert (see _onnx_pb)
    import onnx
    from onnx import TensorProto

PLUGIN = "onnx"


@dataclass
class Value:
    """What is known about an ONNX value at conversion time: dtype and shape (``None`` if unknown)."""

    dtype: np.dtype
    shape: tuple[int, ...] | None = None


@dataclass
class Conversion:
    """State shared by every graph of one conversion (not a model: see ``ir_model`` for that)."""

    ir_model: ir.Model
    opset: int
    initializers: list[TensorProto] = field(default_factory=list)
    used_names: set[str] = field(default_factory=set)
    # IR parameter name -> ONNX initializer name (parameters are global: any graph may read them).
    params: dict[str, str] = field(default_factory=dict)
    info: dict[str, Value] = field(default_factory=dict)
    _const_cache: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def fresh(self, hint: str) -> str:
        """A value name not used anywhere in the model, derived from ``hint``."""
        base = hint or "v"
        name, i = base, 1
        while name in self.used_names:
            name = f"{base}_{i}"
            i += 1
        self.used_names.add(name)
        return name

    def initializer(self, array: np.ndarray, hint: str) -> str:
        """Add ``array`` as an initializer of the main graph; returns its name."""
        name = self.fresh(hint)
        # from_array copies the buffer once (tobytes); no per-element Python work. (Not
        # np.ascontiguousarray: it turns 0-d scalars into 1-d arrays.)
        self.initializers.append(helper.from_array(np.asarray(array, order="C"), name))
        self.info[name] = Value(array.dtype, tuple(array.shape))
        return name

    def const(self, array: np.ndarray, hint: str = "const") -> str:
        """A small constant, shared between all its uses (deduplicated by value)."""
        array = np.asarray(array)
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 64 else None
        if key is not None and key in self._const_cache:
            return self._const_cache[key]
        name = self.initializer(array, hint)
        if key is not None:
            self._const_cache[key] = name
        return name


def onnx_dtype(dtype: np.dtype | str) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class GraphBuilder:
    """One ONNX graph: its nodes, and the map from IR value names to ONNX value names."""

    def __init__(self, conversion: Conversion, parent: GraphBuilder | None = None, scope: str = "") -> None:
        self.conversion = conversion
        self.parent = parent
        self.scope = scope
        self.nodes: list[onnx.NodeProto] = []
        self.env: dict[str, str] = {}
        # IR names whose values were deliberately not produced (unused tuple outputs), with why.
        self.dropped: dict[str, str] = {}
        self.produced: set[str] = set()
        # Closures (Partial/Switch results) live only at conversion time.
        self.closures: dict[str, Any] = {}
        self.current: ir.Node | None = None

    def inline_scope(self, scope: str) -> GraphBuilder:
        """A new naming scope whose nodes go into this same ONNX graph (an inlined function graph)."""
        child = GraphBuilder(self.conversion, parent=self, scope=scope)
        child.nodes = self.nodes
        child.produced = self.produced
        child.current = self.current
        return child

    @property
    def opset(self) -> int:
        return self.conversion.opset

    # -- names -------------------------------------------------------------------------------
    def lookup(self, ir_name: str) -> str:
        """The ONNX name of IR value ``ir_name``, searching enclosing graphs."""
        b: GraphBuilder | None = self
        while b is not None:
            if ir_name in b.env:
                return b.env[ir_name]
            if ir_name in b.dropped:
                raise self.unsupported(b.dropped[ir_name])
            b = b.parent
        if ir_name in self.conversion.params:
            return self.conversion.params[ir_name]
        raise self.unsupported(f"value '{ir_name}' is not defined where it is used")

    def lookup_closure(self, ir_name: str) -> Any:
        b: GraphBuilder | None = self
        while b is not None:
            if ir_name in b.closures:
                return b.closures[ir_name]
            b = b.parent
        return None

    def bind(self, ir_name: str, onnx_name: str) -> None:
        self.env[ir_name] = onnx_name

    def info(self, onnx_name: str) -> Value | None:
        return self.conversion.info.get(onnx_name)

    def unsupported(self, detail: str, primitive: str | None = None) -> UnsupportedOpError:
        node = self.current
        return UnsupportedOpError(
            primitive or (node.op if node else "<graph>"), node.name if node else self.scope, PLUGIN, detail
        )

    # -- emitting ----------------------------------------------------------------------------
    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        n_out: int = 1,
        *,
        hint: str = "",
        outputs: Sequence[str] | None = None,
        value: Value | None = None,
        **attrs: Any,
    ) -> list[str]:
        """Append one ONNX node; returns its output names (fresh unless ``outputs`` is given)."""
        base = hint or (self.current.name if self.current else op_type)
        outs = list(outputs) if outputs is not None else [self.conversion.fresh(f"{base}/{op_type}") for _ in range(n_out)]
        node_name = self.conversion.fresh(f"{base}/{op_type}_node")
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=node_name, **attrs))
        self.produced.update(outs)
        if value is not None and outs:
            self.conversion.info[outs[0]] = value
        return outs

    def op1(self, op_type: str, inputs: Sequence[str], **kw: Any) -> str:
        return self.op(op_type, inputs, 1, **kw)[0]

    def const(self, value: Any, dtype: np.dtype | str | None = None, hint: str = "const") -> str:
        array = np.asarray(value, dtype=dtype)
        return self.conversion.const(array, hint)

    def ints(self, values: Sequence[int], hint: str = "ints") -> str:
        """An int64 1-D constant (shapes, axes, pads for the inputs that take them)."""
        return self.conversion.const(np.asarray(list(values), dtype=np.int64).reshape(-1), hint)

    # -- typed helpers used by many lowerings ------------------------------------------------
    def cast(self, name: str, dtype: np.dtype | str) -> str:
        dtype = np.dtype(dtype)
        info = self.info(name)
        if info is not None and info.dtype == dtype:
            return name
        return self.op1("Cast", [name], to=onnx_dtype(dtype), value=Value(dtype, info.shape if info else None))

    def unsqueeze(self, name: str, axes: Sequence[int]) -> str:
        if self.opset >= 13:
            return self.op1("Unsqueeze", [name, self.ints(axes)])
        return self.op1("Unsqueeze", [name], axes=list(axes))

    def squeeze(self, name: str, axes: Sequence[int] | None) -> str:
        if self.opset >= 13:
            return self.op1("Squeeze", [name] + ([self.ints(axes)] if axes else []))
        return self.op1("Squeeze", [name], axes=list(axes) if axes else None)

    def reduce(self, op_type: str, name: str, axes: Sequence[int] | None, keepdims: bool, **kw: Any) -> str:
        """ReduceX over ``axes`` (None or empty: every axis), with axes as input or attribute per opset."""
        axes_as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        if not axes:
            return self.op1(op_type, [name], keepdims=int(keepdims), **kw)
        if axes_as_input:
            return self.op1(op_type, [name, self.ints(axes)], keepdims=int(keepdims), **kw)
        return self.op1(op_type, [name], axes=list(axes), keepdims=int(keepdims), **kw)

    def identity_into(self, name: str, out: str) -> None:
        self.op("Identity", [name], outputs=[out])


def make_value_info(name: str, dtype: np.dtype | str, shape: Sequence[int | str | None] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx_dtype(dtype), None if shape is None else list(shape))
