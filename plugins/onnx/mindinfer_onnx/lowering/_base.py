"""The lowering registry and the helpers lowerings share.

A lowering turns one IR node into ONNX nodes appended to a :class:`GraphBuilder`, and binds every
IR output it produces. It is registered with :func:`lowers` under MindSpore primitive names::

    @lowers("ReLU")
    def relu(b: GraphBuilder, node: Node) -> None:
        \"\"\"max(x, 0).\"\"\"
        out(b, node, b.op1("Relu", [x(b, node, 0)]))

A lowering that meets a form it cannot express exactly raises (``b.unsupported(...)``) rather
than writing something that computes a different result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from mindinfer.backend import OpTable
from mindinfer.ir import Const, Node, Ref, TupleOf
from mindinfer.primitives import RUNTIME

from .._graph import GraphBuilder, Value

Lowering = Callable[[GraphBuilder, Node], None]

#: Every lowering, by MindSpore primitive name.
LOWERINGS: OpTable[Lowering] = OpTable("onnx")

#: Register a lowering under one or more primitive names (core's duplicate check).
lowers = LOWERINGS.register


def arg(node: Node, *names: str) -> Any:
    """Argument ``names[0]`` by core's signature table (or the first of ``names`` the primitive has,
    for lowerings serving primitives that name it differently: ``"axis", "dim"``); :data:`RUNTIME`
    when computed at run time."""
    return node.arg(_pick(node, names))


def const_arg(b: GraphBuilder, node: Node, *names: str) -> Any:
    """Like :func:`arg`, but raises when the argument is only known at run time."""
    name = _pick(node, names)
    value = node.arg(name)
    if value is RUNTIME:
        raise b.unsupported(f"argument {name!r} is computed at run time; only a constant is supported")
    return value


def _pick(node: Node, names: tuple[str, ...]) -> str:
    sig = node.signature
    return next((n for n in names if sig is not None and n in sig.names), names[0])


def given(node: Node, index: int) -> bool:
    """Whether optional input ``index`` is present and not a constant None."""
    if index >= len(node.inputs):
        return False
    item = node.inputs[index]
    return not (isinstance(item, Const) and item.value is None)


def as_tuple(value: Any, n: int | None = None) -> tuple[int, ...]:
    """An int or sequence of ints as a tuple (an int repeated ``n`` times)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    return (int(value),) * (n or 1)


def dtype_of(b: GraphBuilder, node: Node, index: int) -> np.dtype | None:
    """Dtype of input ``index`` when known at conversion time."""
    item = node.inputs[index]
    if isinstance(item, Ref):
        info = b.info(b.lookup(item.name))
        return info.dtype if info else None
    if isinstance(item, Const) and isinstance(item.value, np.ndarray):
        return item.value.dtype
    return None


def shape_of(b: GraphBuilder, node: Node, index: int) -> tuple[int, ...] | None:
    """Static shape of input ``index`` (``-1`` for dynamic dims), None when the rank is unknown."""
    item = node.inputs[index]
    if isinstance(item, Ref):
        info = b.info(b.lookup(item.name))
        return info.shape if info else None
    if isinstance(item, Const):
        return tuple(np.shape(item.value))
    return None


def rank_of(b: GraphBuilder, node: Node, index: int) -> int:
    shape = shape_of(b, node, index)
    if shape is None:
        raise b.unsupported(f"the rank of input {index} is not known at conversion time")
    return len(shape)


def out_dtype(node: Node, index: int = 0) -> np.dtype | None:
    spec = node.out_specs[index] if index < len(node.out_specs) else None
    return np.dtype(spec.dtype) if spec is not None else None


def x(b: GraphBuilder, node: Node, index: int, dtype: np.dtype | str | None = None) -> str:
    """ONNX name of tensor input ``index``; constants become initializers, cast to ``dtype`` if given.

    A Python scalar constant takes ``dtype``, else the dtype of the node's first tensor input
    (MindSpore's rule for scalar operands), else the node's output dtype.
    """
    item = node.inputs[index]
    if isinstance(item, Ref):
        name = b.lookup(item.name)
        return b.cast(name, dtype) if dtype is not None else name
    if isinstance(item, TupleOf):
        raise b.unsupported(f"input {index} is a tuple where a tensor is expected")
    value = item.value
    if isinstance(value, np.ndarray):
        return b.const(value.astype(dtype) if dtype is not None else value)
    if value is None:
        raise b.unsupported(f"input {index} is None where a tensor is expected")
    if dtype is None:
        dtype = scalar_dtype(b, node, index, value)
    return b.const(np.asarray(value, dtype=dtype))


def scalar_dtype(b: GraphBuilder, node: Node, index: int, value: Any) -> np.dtype:
    for i, item in enumerate(node.inputs):
        if i != index and isinstance(item, Ref):
            dt = dtype_of(b, node, i)
            if dt is not None:
                if isinstance(value, float) and dt.kind in "iub":
                    return np.dtype("float32")
                return dt
    dt = out_dtype(node)
    if dt is not None:
        return dt
    return np.dtype("float32") if isinstance(value, float) else np.dtype("int64")


def xs(b: GraphBuilder, node: Node, index: int) -> list[str]:
    """Input ``index`` as a list of tensors (a tuple input, or a constant tuple of arrays)."""
    item = node.inputs[index]
    if isinstance(item, TupleOf):
        return [_item(b, node, sub) for sub in item.items]
    if isinstance(item, Const) and isinstance(item.value, (tuple, list)):
        return [b.const(np.asarray(v)) for v in item.value]
    return [x(b, node, index)]


def _item(b: GraphBuilder, node: Node, item: Any) -> str:
    if isinstance(item, Ref):
        return b.lookup(item.name)
    if isinstance(item, Const):
        return b.const(np.asarray(item.value))
    raise b.unsupported("nested tuples are not supported here")


def out(b: GraphBuilder, node: Node, name: str, index: int = 0) -> None:
    """Bind IR output ``index`` of ``node`` to ONNX value ``name`` and record its spec."""
    b.bind(node.outputs[index], name)
    spec = node.out_specs[index] if index < len(node.out_specs) else None
    if spec is not None:
        b.conversion.info[name] = Value(np.dtype(spec.dtype), spec.shape)


def outs(b: GraphBuilder, node: Node, names: Sequence[str]) -> None:
    for i, name in enumerate(names):
        out(b, node, name, i)


def drop_extra_outputs(b: GraphBuilder, node: Node, kept: int, why: str) -> None:
    """Mark outputs from ``kept`` on as not produced; reading one raises with ``why``."""
    for name in node.outputs[kept:]:
        b.dropped[name] = f"output '{name}' of {node.op} is not supported: {why}"
