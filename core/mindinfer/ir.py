"""The normalized graph IR: what the loader produces and the only thing backends see.

A MindIR file is turned into a :class:`Model`: a main :class:`Graph` plus the function graphs it
calls (control flow). Side-effect bookkeeping (``Load``, ``UpdateState``, ``Depend``, monads) and
tuple plumbing (``MakeTuple``, ``TupleGetItem``) are gone; what is left is dataflow.

Values are referred to by name, as in ONNX. A node input is one of:

* :class:`Ref` -- a value computed at run time: a graph input, a node output, or a parameter
  (weights; look it up in ``graph.params``);
* :class:`Const` -- a compile-time constant (scalar, tuple, ``None``, string, dtype, ndarray or a
  :class:`GraphRef` naming a function graph);
* :class:`TupleOf` -- a tuple built from other inputs (MindSpore's ``MakeTuple`` feeding, say,
  ``Concat``); a tuple made only of constants is folded into one :class:`Const`.

A node whose MindSpore output is a tuple of tensors (``Split``, ``LayerNorm``, ``TopK``) has one
output name per element; ``TupleGetItem`` has been resolved to the element's name.

Control flow keeps MindSpore's functional form: ``Partial`` binds arguments to a :class:`GraphRef`
and yields a closure, ``Switch`` picks one of two closures on a boolean, ``Call`` applies a closure
or a :class:`GraphRef` to arguments. Loops are recursive function graphs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import primitives

if TYPE_CHECKING:
    from ._checkpoint import CheckpointReport

__all__ = [
    "CONTROL_FLOW_OPS",
    "Const",
    "ForeignModel",
    "Graph",
    "GraphRef",
    "Input",
    "Model",
    "Node",
    "Parameter",
    "Ref",
    "TensorSpec",
    "TupleOf",
    "iter_refs",
]

#: Primitive names of the control-flow nodes the loader keeps (everything else is an operator).
CONTROL_FLOW_OPS = frozenset({"Partial", "Switch", "Call"})


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and dtype of a tensor; ``-1`` marks a dimension only known at run time.

    ``dtype`` is a numpy dtype name (``"float32"``, ``"int64"``, ``"bool"`` ...). ``shape`` is
    ``None`` when even the rank is unknown.
    """

    name: str
    shape: tuple[int, ...] | None
    dtype: str

    @property
    def is_dynamic(self) -> bool:
        return self.shape is None or any(d < 0 for d in self.shape)

    def __str__(self) -> str:
        dims = "?" if self.shape is None else ",".join("?" if d < 0 else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"


@dataclass(frozen=True)
class GraphRef:
    """A reference to a function graph of the model, as a constant (callee of Partial/Call)."""

    graph: str


@dataclass(frozen=True)
class Ref:
    """A run-time value by name: graph input, parameter, or node output."""

    name: str


@dataclass(frozen=True, eq=False)
class Const:
    """A compile-time constant value. ``name`` is the MindIR constant's name, for messages."""

    value: Any
    name: str = ""

    def __repr__(self) -> str:
        v = self.value
        if isinstance(v, np.ndarray):
            text = f"array({v.dtype}{list(v.shape)})" if v.size > 8 else f"array({v.tolist()!r}, {v.dtype})"
        else:
            text = repr(v)
        return f"Const({text})"


@dataclass(frozen=True)
class TupleOf:
    """A tuple of inputs assembled at run time (at least one item is not constant)."""

    items: tuple[Input, ...]


Input = Ref | Const | TupleOf


@dataclass(frozen=True)
class Parameter:
    """A weight: its spec and its data (a read-only numpy view of the file where possible)."""

    spec: TensorSpec
    data: np.ndarray

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class Node:
    """One primitive application.

    ``op`` is the MindSpore primitive name (``"Conv2D"``, ``"MatMul"``) or one of
    :data:`CONTROL_FLOW_OPS`. ``attrs`` are the primitive's attributes (``kernel_size``, ``pad_mode``
    ...) as Python values; for MindSpore 2.x "primitive functions" the same information comes as
    :class:`Const` inputs instead, in the primitive's argument order. ``out_specs`` has one entry per
    output, from the node's exported output abstract (``None`` where the abstract is not a tensor).
    """

    name: str
    op: str
    inputs: list[Input]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    out_specs: list[TensorSpec | None] = field(default_factory=list)

    def arg(self, name: str, known: Sequence[Any] | None = None) -> Any:
        """Argument ``name`` of this node's primitive, by MindSpore's signature (see :mod:`mindinfer.primitives`).

        Whether the export passed it as an input (2.x) or an attribute (1.x), enum codes decoded:
        ``node.arg("pad_mode")`` is ``"same"``, ``node.arg("data_format")`` is ``"NHWC"``. An
        argument computed at run time reads as :data:`~mindinfer.primitives.RUNTIME`; a backend
        that knows more at compile time (folded constants, weights) passes ``known``, one value per
        input with ``RUNTIME`` where it knows nothing. Raises :class:`~mindinfer.errors.ArgumentError`
        for a primitive core has no signature for, an unknown name, or an undefined enum code.
        """
        inputs = (
            known
            if known is not None
            else [i.value if isinstance(i, Const) else primitives.RUNTIME for i in self.inputs]
        )
        return primitives.read(self.op, self.name, name, inputs, self.attrs)

    def args(self, known: Sequence[Any] | None = None) -> dict[str, Any]:
        """Every argument of this node's primitive by name (as :meth:`arg` reads each)."""
        sig = self.signature
        if sig is None:
            return {"": self.arg("")}  # raises ArgumentError: no signature
        return {name: self.arg(name, known) for name in sig.names}

    @property
    def signature(self) -> primitives.Signature | None:
        """The primitive's signature, or None when core has none."""
        return primitives.signature(self.op)

    def const_input(self, index: int, default: Any = None) -> Any:
        """The value of input ``index`` if it is a constant, else ``default`` (also when absent)."""
        if index >= len(self.inputs):
            return default
        item = self.inputs[index]
        return item.value if isinstance(item, Const) else default

    def __str__(self) -> str:
        args = ", ".join(_fmt_input(i) for i in self.inputs)
        attrs = "".join(f" {k}={v!r}" for k, v in self.attrs.items())
        return f"{', '.join(self.outputs)} = {self.op}({args}){attrs}"


def _fmt_input(item: Input) -> str:
    if isinstance(item, Ref):
        return f"%{item.name}"
    if isinstance(item, TupleOf):
        return "(" + ", ".join(_fmt_input(i) for i in item.items) + ")"
    return repr(item)


def iter_refs(item: Input) -> Iterator[str]:
    """Every value name an input reads (descending into tuples)."""
    if isinstance(item, Ref):
        yield item.name
    elif isinstance(item, TupleOf):
        for sub in item.items:
            yield from iter_refs(sub)


@dataclass
class Graph:
    """A function graph: inputs, parameters, nodes in topological order, and outputs."""

    name: str
    inputs: list[TensorSpec]
    outputs: list[Input]
    nodes: list[Node]
    params: dict[str, Parameter] = field(default_factory=dict)
    output_specs: list[TensorSpec] = field(default_factory=list)

    def producers(self) -> dict[str, Node]:
        """Map from each node output name to the node producing it."""
        return {out: node for node in self.nodes for out in node.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        """Map from each value name to the nodes reading it."""
        users: dict[str, list[Node]] = {}
        for node in self.nodes:
            for item in node.inputs:
                for name in iter_refs(item):
                    users.setdefault(name, []).append(node)
        return users

    def __str__(self) -> str:
        lines = [f"graph {self.name}(" + ", ".join(str(s) for s in self.inputs) + ")"]
        for p in self.params.values():
            lines.append(f"  param {p.spec}")
        lines.extend(f"  {node}" for node in self.nodes)
        lines.append("  return " + ", ".join(_fmt_input(o) for o in self.outputs))
        return "\n".join(lines)


@dataclass
class Model:
    """A loaded MindIR model: the main graph plus function graphs, by name."""

    main: Graph
    functions: dict[str, Graph] = field(default_factory=dict)
    source: str = ""
    producer: str = ""
    producer_version: str = ""
    ir_version: str = ""
    #: What ``load(..., checkpoint=...)`` changed; None when no checkpoint was applied.
    checkpoint: CheckpointReport | None = None
    #: The file was encrypted: its weights must never reach the disk in plain (backends check this).
    encrypted: bool = False
    #: Every parameter the file stores, with its stored dtype: those pruned as unused included, and
    #: bfloat16 before it was widened. Checkpoints are matched against this.
    stored_params: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def inputs(self) -> list[TensorSpec]:
        return self.main.inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self.main.output_specs

    @property
    def graphs(self) -> list[Graph]:
        return [self.main, *self.functions.values()]

    def graph(self, name: str) -> Graph:
        if name == self.main.name:
            return self.main
        return self.functions[name]

    @property
    def has_control_flow(self) -> bool:
        return bool(self.functions) or any(n.op in CONTROL_FLOW_OPS for g in self.graphs for n in g.nodes)

    @property
    def is_dynamic(self) -> bool:
        return any(s.is_dynamic for s in self.inputs)

    def primitive_histogram(self) -> Counter[str]:
        """How many times each primitive appears, over every graph."""
        return Counter(n.op for g in self.graphs for n in g.nodes)

    def parameters(self) -> list[Parameter]:
        return [p for g in self.graphs for p in g.params.values()]

    def __str__(self) -> str:
        return "\n\n".join(str(g) for g in self.graphs)


@dataclass
class ForeignModel:
    """A model file in a format other than MindIR (``.onnx``), opened by a plugin's ``open_foreign_model`` hook.

    Core knows only its tensors; the plugin that opened it (and any backend declaring ``format``
    in ``capabilities.formats``) reads ``path`` itself. The properties mirror :class:`Model`'s so
    that shared checks (inspect, capability checks) work on either.
    """

    path: str
    format: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def graphs(self) -> list[Graph]:
        return []

    @property
    def has_control_flow(self) -> bool:
        return False

    @property
    def is_dynamic(self) -> bool:
        return any(s.is_dynamic for s in self.inputs)

    def primitive_histogram(self) -> Counter[str]:
        return Counter()

    def parameters(self) -> list[Parameter]:
        return []

    def __str__(self) -> str:
        ins = ", ".join(str(s) for s in self.inputs)
        outs = ", ".join(str(s) for s in self.outputs)
        return f"{self.format} model {self.path}({ins}) -> ({outs})"
