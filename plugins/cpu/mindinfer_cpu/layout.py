"""Layout pass: run convolution regions channels-last (NHWC), converting only at region borders.

Conv2D and 2-D pools switch to NHWC; ops that do not care about layout (activations, elementwise
arithmetic, BiasAdd/BatchNorm on the channel axis, Concat/Split on channels, spatial reductions)
follow their inputs, with axis arguments and constant operands permuted here, once. Every other
consumer, and every graph output, gets the NCHW tensor back through one inserted conversion
(shared by all such consumers of the value).

Channel shuffles, which MindSpore exports as Reshape/Transpose/Reshape on NCHW (ShuffleNet v1, and
v2 with its StridedSlice split), are recognized whole and done on the NHWC tensor as one
``cpu.ChannelShuffle`` copy or view, instead of converting to NCHW and back around every block
(measured: shufflenet_v2_x1_0 at batch 8 spent 4.3 of 25 ms in those conversions).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from mindinfer.ir import Const, Input, Node, Ref, TensorSpec, TupleOf, iter_refs

from .kernels._epilogue import LAYOUT
from .kernels.activation import INPLACE
from .kernels.layout_nhwc import PICK, SPLIT
from .workgraph import WorkGraph, only_user

#: NCHW axis -> NHWC axis.
_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}
_TO_NHWC = (0, 2, 3, 1)

_UNARY = set(INPLACE) | {
    "GeLU", "FastGeLU", "Neg", "Abs", "Sqrt", "Rsqrt", "Exp", "Log", "Erf", "Square", "Reciprocal",
    "Sign", "Floor", "Ceil", "Round", "Elu", "LeakyReLU", "Softplus", "Mish", "SeLU", "ClampScalar",
    "Cast", "InplaceReLU", "Softsign",
}  # fmt: skip
_BINARY = {
    "Add", "Sub", "Mul", "Div", "RealDiv", "Maximum", "Minimum", "Pow", "SquaredDifference",
    "AddExt", "SubExt", "InplaceAddExt", "InplaceSubExt", "InplaceMul", "InplaceDiv", "Muls", "Divs",
    "Adds", "Subs",
}  # fmt: skip
_REDUCE = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "MeanExt", "SumExt"}


def _rank(wg: WorkGraph, item: Input) -> int | None:
    arg = wg.arg(item)
    if arg.known:
        return int(np.ndim(arg.value)) if isinstance(arg.value, (np.ndarray, np.generic, int, float, bool)) else None
    if arg.spec is None or arg.spec.shape is None:
        return None
    return len(arg.spec.shape)


def _nhwc_spec(spec: TensorSpec | None, name: str) -> TensorSpec | None:
    if spec is None or spec.shape is None or len(spec.shape) != 4:
        return None if spec is None else TensorSpec(name, None, spec.dtype)
    return TensorSpec(name, tuple(spec.shape[i] for i in _TO_NHWC), spec.dtype)


class _Layouts:
    def __init__(self, wg: WorkGraph) -> None:
        self.wg = wg
        self.nhwc: set[str] = set()
        self.as_nchw: dict[str, str] = {}
        self.as_nhwc: dict[str, str] = {}
        self.nodes: list[Node] = []

    def is_nhwc(self, item: Input) -> bool:
        return isinstance(item, Ref) and self.wg.resolve(item.name) in self.nhwc

    def nchw(self, name: str) -> str:
        """The NCHW version of an NHWC value (one conversion node, shared)."""
        if name not in self.as_nchw:
            out = f"{name}@nchw"
            spec = self.wg.specs.get(name)
            self.nodes.append(Node(out, "cpu.ToNCHW", [Ref(name)], [out], {}, [spec]))
            self.wg.specs[out] = (
                None
                if spec is None or spec.shape is None
                else TensorSpec(out, tuple(spec.shape[i] for i in (0, 3, 1, 2)), spec.dtype)
            )
            self.as_nchw[name] = out
        return self.as_nchw[name]

    def to_nhwc(self, name: str) -> str:
        if name in self.nhwc:
            return name
        if name not in self.as_nhwc:
            out = f"{name}@nhwc"
            spec = _nhwc_spec(self.wg.specs.get(name), out)
            self.nodes.append(Node(out, "cpu.ToNHWC", [Ref(name)], [out], {}, [spec]))
            self.wg.specs[out] = spec
            self.nhwc.add(out)
            self.as_nhwc[name] = out
        return self.as_nhwc[name]

    def plain(self, item: Input) -> Input:
        """The input with every NHWC value replaced by its NCHW version."""
        if isinstance(item, Ref):
            name = self.wg.resolve(item.name)
            return Ref(self.nchw(name)) if name in self.nhwc else item
        if isinstance(item, TupleOf):
            return TupleOf(tuple(self.plain(i) for i in item.items))
        return item

    def emit(self, node: Node, nhwc_outputs: bool) -> None:
        self.nodes.append(node)
        if nhwc_outputs:
            for out in node.outputs:
                self.nhwc.add(out)
                self.wg.specs[out] = _nhwc_spec(self.wg.specs.get(out), out)

    def fallback(self, node: Node) -> None:
        self.emit(replace(node, inputs=[self.plain(i) for i in node.inputs]), False)


def _conv_ok(wg: WorkGraph, node: Node) -> bool:
    if node.op != "Conv2D" or len(node.inputs) < 2 or not wg.arg(node.inputs[1]).known:
        return False
    return (
        node.arg("data_format") == "NCHW"
        and np.ndim(wg.arg(node.inputs[1]).value) == 4
        and _rank(wg, node.inputs[0]) in (4, None)
    )


def _pool_ok(wg: WorkGraph, node: Node) -> bool:
    if node.op not in ("MaxPool", "AvgPool") or _rank(wg, node.inputs[0]) != 4:
        return False
    return node.arg("data_format") == "NCHW" and node.arg("pad_mode") in ("same", "valid")


def _permuted_const(value: Any) -> Any | None:
    """A constant operand broadcast against an NCHW tensor, rearranged for NHWC (None if impossible)."""
    arr = np.asarray(value)
    if arr.ndim == 0 or arr.size == 1:
        return value
    if arr.ndim > 4:
        return None
    return np.ascontiguousarray(arr.reshape((1,) * (4 - arr.ndim) + arr.shape).transpose(_TO_NHWC))


def _binary(lay: _Layouts, node: Node) -> bool:
    wg = lay.wg
    tensors = node.inputs[:2]
    if not any(lay.is_nhwc(i) for i in tensors):
        return False
    new: list[Input] = list(node.inputs)
    for k, item in enumerate(tensors):
        if lay.is_nhwc(item):
            continue
        arg = wg.arg(item)
        if arg.known:
            permuted = _permuted_const(arg.value)
            if permuted is None:
                return False
            new[k] = Const(permuted) if permuted is not arg.value else item
        elif _rank(wg, item) == 4 and isinstance(item, Ref):
            new[k] = Ref(lay.to_nhwc(wg.resolve(item.name)))
        else:
            return False
    lay.emit(replace(node, inputs=new), True)
    return True


def _reduce(lay: _Layouts, node: Node) -> bool:
    if not lay.is_nhwc(node.inputs[0]) or len(node.inputs) < 3:
        return False
    axis, keep = node.const_input(1, ()), node.const_input(2, False)
    if not isinstance(node.inputs[1], Const) or not isinstance(node.inputs[2], Const):
        return False
    if axis is None or (not isinstance(axis, int) and len(axis) == 0):
        lay.emit(node, bool(keep))
        return True
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(int(a) % 4 for a in axes)
    kept = [a for a in range(4) if a not in axes]
    if not keep and 1 in kept and (2 in kept or 3 in kept):
        return False  # the kept axes would come out in another order
    new_axes = tuple(sorted(_AXIS[a] for a in axes))
    inputs = list(node.inputs)
    inputs[1] = Const(new_axes if not isinstance(axis, (int, np.integer)) else new_axes[0])
    lay.emit(replace(node, inputs=inputs), bool(keep))
    return True


def _channel_axis_op(lay: _Layouts, node: Node) -> bool:
    """BiasAdd/BatchNorm (channel axis given by a format argument) on an NHWC input."""
    if not lay.is_nhwc(node.inputs[0]):
        return False
    index = 2 if node.op == "BiasAdd" else 8
    if node.const_input(index, 0) not in (0, "NCHW") or not isinstance(
        node.inputs[index] if index < len(node.inputs) else None, Const
    ):
        return False
    if node.op == "BatchNorm" and any(lay.is_nhwc(i) for i in node.inputs[1:5]):
        return False
    inputs = list(node.inputs)
    inputs[index] = Const(1)  # NHWC: channels on the last axis
    new = replace(node, inputs=inputs)
    lay.nodes.append(new)
    lay.nhwc.add(new.outputs[0])
    lay.wg.specs[new.outputs[0]] = _nhwc_spec(lay.wg.specs.get(new.outputs[0]), new.outputs[0])
    return True


def _concat(lay: _Layouts, node: Node) -> bool:
    items = node.inputs[0].items if isinstance(node.inputs[0], TupleOf) else None
    axis = node.const_input(1)
    if items is None or axis is None or not all(lay.is_nhwc(i) for i in items):
        return False
    inputs = list(node.inputs)
    inputs[1] = Const(_AXIS[int(axis) % 4])
    lay.emit(replace(node, inputs=inputs), True)
    return True


def _split(lay: _Layouts, node: Node) -> bool:
    axis = node.const_input(1)
    if not lay.is_nhwc(node.inputs[0]) or axis is None:
        return False
    inputs = list(node.inputs)
    inputs[1] = Const(_AXIS[int(axis) % 4])
    lay.emit(replace(node, inputs=inputs), True)
    return True


@dataclass
class _Shuffle:
    """A channel shuffle found in the NCHW graph: the nodes it spans and what replaces each result."""

    source: str  # the 4-D NCHW value shuffled
    inner: set[str] = field(default_factory=set)  # outputs of the Reshape/Transpose nodes it replaces
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # output -> cpu.ChannelShuffle attrs


def _const(wg: WorkGraph, node: Node, index: int) -> tuple[int, ...] | None:
    if index >= len(node.inputs):
        return None
    arg = wg.arg(node.inputs[index])
    if not arg.known:
        return None
    try:
        return tuple(int(v) for v in np.asarray(arg.value).reshape(-1))
    except (TypeError, ValueError):
        return None


def _fits(shape: tuple[int, ...] | None, want: tuple[int, ...]) -> bool:
    """A Reshape target equal to ``want``, up to -1 on either side (an inferred or dynamic dimension;
    MindSpore checked the sizes when it exported the graph)."""
    return shape is not None and len(shape) == len(want) and all(-1 in (s, w) or s == w for s, w in zip(shape, want))


def _picks(wg: WorkGraph, users: list[Node], groups: int) -> dict[str, int] | None:
    """Each user's index, when every user is a StridedSlice taking one index of axis 0 and dropping it."""
    found = {}
    for user in users:
        if user.op != "StridedSlice" or len(user.inputs) < 9:
            return None
        begin, end, strides = (_const(wg, user, i) for i in (1, 2, 3))
        masks = [_const(wg, user, i) for i in range(4, 9)]
        if begin is None or end is None or strides != (1,) or any(m is None or len(m) != 1 for m in masks):
            return None
        bm, em, ell, new, shrink = (m[0] for m in masks if m is not None)
        t = begin[0] if len(begin) == 1 else -1
        if not (0 <= t < groups and end == (t + 1,) and shrink & 1 and not (bm | em) & 1 and not ell and not new):
            return None
        found[user.outputs[0]] = t
    return found


def find_shuffles(wg: WorkGraph) -> dict[str, _Shuffle]:
    """Channel shuffles by the output of their first Reshape (run on the NCHW graph, before layout).

    v1: (B, C, H, W) -> Reshape (B, a, b, H, W) -> Transpose (0, 2, 1, 3, 4) -> Reshape (B, C, H, W).
    v2: (B, C, H, W) -> Reshape (B*C/g, g, H*W) -> Transpose (1, 0, 2) -> Reshape (g, B, C/g, H, W),
    then StridedSlices taking index t of axis 0: channels t, g + t, ... of every image.
    """
    users = wg.consumers()
    outputs = wg.output_names()

    def sole(name: str, op: str) -> Node | None:
        user = only_user(wg, users, outputs, name)
        ok = user is not None and user.op == op and len(user.inputs) >= 2 and isinstance(user.inputs[0], Ref)
        return user if ok else None

    shuffles = {}
    for node in wg.nodes:
        if node.op != "Reshape" or not node.inputs or not isinstance(node.inputs[0], Ref):
            continue
        source = wg.resolve(node.inputs[0].name)
        spec = wg.specs.get(source)
        if spec is None or spec.shape is None or len(spec.shape) != 4 or min(spec.shape[1:]) < 1:
            continue
        batch, c, h, w = spec.shape
        first, head = _const(wg, node, 1), node.outputs[0]
        transpose = sole(head, "Transpose")
        second = sole(transpose.outputs[0], "Reshape") if transpose is not None else None
        if first is None or transpose is None or second is None or len(first) not in (3, 5):
            continue
        perm, shape = _const(wg, transpose, 1), _const(wg, second, 1)
        inner = {head, transpose.outputs[0]}
        if len(first) == 5 and perm == (0, 2, 1, 3, 4):
            a, b = first[1], first[2]
            if a * b == c and _fits(first, (batch, a, b, h, w)) and _fits(shape, (batch, c, h, w)):
                shuffles[head] = _Shuffle(source, inner, {second.outputs[0]: {SPLIT: (a, b), PICK: None}})
        elif len(first) == 3 and perm == (1, 0, 2):
            g = first[1]
            rows = batch * c // g if batch > 0 else -1
            if g < 1 or c % g or not _fits(first, (rows, g, h * w)) or not _fits(shape, (g, batch, c // g, h, w)):
                continue
            picks = _picks(wg, users.get(second.outputs[0], []), g) if second.outputs[0] not in outputs else None
            if picks:
                results = {out: {SPLIT: (c // g, g), PICK: t} for out, t in picks.items()}
                shuffles[head] = _Shuffle(source, inner | {second.outputs[0]}, results)
    return shuffles


def assign_layouts(wg: WorkGraph) -> None:
    """Rewrite ``wg.nodes`` so that convolution regions run channels-last."""
    if not any(_conv_ok(wg, n) for n in wg.nodes):
        return
    shuffles = find_shuffles(wg)
    skipped: set[str] = set()  # outputs of the Reshape/Transpose nodes of shuffles done in NHWC
    done: dict[str, tuple[str, dict[str, Any]]] = {}  # shuffle result -> (NHWC source, attrs)
    lay = _Layouts(wg)
    for node in wg.nodes:
        out = node.outputs[0] if node.outputs else ""
        if out in shuffles and lay.is_nhwc(node.inputs[0]):
            shuffle = shuffles[out]
            skipped |= shuffle.inner
            done.update({name: (wg.resolve(shuffle.source), attrs) for name, attrs in shuffle.results.items()})
        if out in skipped:
            continue
        if out in done:
            source, attrs = done[out]
            lay.emit(Node(node.name, "cpu.ChannelShuffle", [Ref(source)], [out], attrs, node.out_specs), True)
            continue
        if _conv_ok(wg, node) or _pool_ok(wg, node):
            src = node.inputs[0]
            x: Input = Ref(lay.to_nhwc(wg.resolve(src.name))) if isinstance(src, Ref) else src
            if not isinstance(x, Ref):
                lay.fallback(node)
                continue
            attrs = dict(node.attrs)
            attrs[LAYOUT] = "NHWC"
            lay.emit(replace(node, inputs=[x, *node.inputs[1:]], attrs=attrs), True)
            continue
        handled = False
        if node.op in _UNARY and node.inputs and lay.is_nhwc(node.inputs[0]):
            handled = not any(lay.is_nhwc(i) for i in node.inputs[1:])
            if handled:
                lay.emit(node, True)
        elif node.op in _BINARY:
            handled = _binary(lay, node)
        elif node.op in _REDUCE:
            handled = _reduce(lay, node)
        elif node.op in ("BiasAdd", "BatchNorm"):
            handled = _channel_axis_op(lay, node)
        elif node.op == "Concat":
            handled = _concat(lay, node)
        elif node.op == "Split":
            handled = _split(lay, node)
        if not handled:
            lay.fallback(node)
    wg.outputs = [lay.plain(o) for o in wg.outputs]
    wg.nodes = lay.nodes


__all__ = ["assign_layouts", "iter_refs"]
