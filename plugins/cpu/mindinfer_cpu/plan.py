"""Static execution plans: a flat list of bound kernel calls over a slot array, one plan per graph.

Values live in a per-run list of slots (so concurrent runs share nothing mutable). Constants and
folded values sit in a template copied at the start of each run; each step reads its input slots,
calls its kernel and writes its output slots; slots are cleared after their last reader so that
memory is handed back to the allocator (and reused by the next kernel) as early as possible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mindinfer.backend import plugin_message
from mindinfer.errors import MindInferError, UnsupportedOpError
from mindinfer.ir import Const, GraphRef, Input, Node, Ref, TupleOf, iter_refs

from .passes import build_kernel
from .registry import PLUGIN, Arg
from .workgraph import WorkGraph


@dataclass
class Step:
    """One bound kernel call."""

    fn: Callable[..., Any]
    ins: tuple[int, ...]
    outs: tuple[int, ...]
    name: str
    op: str
    free: tuple[int, ...] = ()

    @property
    def multi(self) -> bool:
        return len(self.outs) != 1


@dataclass
class TailCall:
    """A Call whose results are the graph's results: the runner loops instead of recursing."""

    callee: int
    args: tuple[int, ...]


@dataclass
class Plan:
    """A compiled graph."""

    name: str
    n_inputs: int
    template: list[Any]
    steps: list[Step]
    outputs: tuple[int, ...]
    tail: TailCall | None = None
    n_nodes: int = 0
    notes: list[str] = field(default_factory=list)


#: Control-flow kernels are made by the runtime (they need the program); the planner asks for them.
ControlFlowFactory = Callable[[Node, int], Callable[..., Any]]


class _Slots:
    def __init__(self, wg: WorkGraph) -> None:
        self.wg = wg
        self.index: dict[str, int] = {}
        self.template: list[Any] = []

    def new(self, value: Any = None) -> int:
        self.template.append(value)
        return len(self.template) - 1

    def const(self, value: Any) -> int:
        return self.new(value)

    def of(self, name: str, node: Node | None) -> int:
        name = self.wg.resolve(name)
        if name in self.index:
            return self.index[name]
        if name in self.wg.known:
            self.index[name] = self.const(self.wg.known[name])
            return self.index[name]
        where = f"node '{node.name}'" if node is not None else "the graph outputs"
        raise MindInferError(
            plugin_message(PLUGIN, f"graph '{self.wg.name}': {where} reads '{name}', which nothing defines")
        )


def build_plan(wg: WorkGraph, control_flow: ControlFlowFactory) -> Plan:
    """Bind every node of an optimized graph to its kernel and assign slots."""
    slots = _Slots(wg)
    for spec in wg.inputs:
        slots.index[spec.name] = slots.new()
    steps: list[Step] = []
    missing: dict[str, tuple[str, str]] = {}
    tail: TailCall | None = None
    last_index = len(wg.nodes) - 1
    out_refs = [wg.resolve(o.name) if isinstance(o, Ref) else None for o in wg.outputs]

    def slot_of(item: Input, node: Node) -> int:
        if isinstance(item, Const):
            value = item.value
            return slots.const(value)
        if isinstance(item, Ref):
            name = wg.resolve(item.name)
            if name in missing:
                op, what = missing[name]
                raise UnsupportedOpError(op, node.name, PLUGIN, f"reads {what}, which this plugin does not compute")
            return slots.of(name, node)
        arg = wg.arg(item)
        if arg.known:
            return slots.const(arg.value)
        parts = tuple(slot_of(i, node) for i in item.items)
        out = slots.new()
        steps.append(Step(_make_tuple, parts, (out,), node.name + "/tuple", "MakeTuple"))
        return out

    _check_inplace_updates(wg)
    for index, node in enumerate(wg.nodes):
        is_tail = index == last_index and node.op == "Call" and out_refs == [wg.resolve(o) for o in node.outputs]
        ins = tuple(slot_of(i, node) for i in node.inputs)
        if is_tail:
            tail = TailCall(ins[0], ins[1:])
            continue
        if node.op in ("Partial", "Switch", "Call"):
            fn = control_flow(node, len(node.outputs))
        else:
            fn = build_kernel(node, wg.args(node))
        outs = []
        for i, out in enumerate(node.outputs):
            slots.index[out] = slots.new()
            outs.append(slots.index[out])
            if i in getattr(fn, "missing_outputs", ()):
                missing[out] = (node.op, f"output {i} of node '{node.name}'")
        steps.append(Step(fn, ins, tuple(outs), node.name, node.op))

    outputs: tuple[int, ...] = ()
    if tail is None:
        for o in wg.outputs:
            if isinstance(o, Ref) and wg.resolve(o.name) in missing:
                op, what = missing[wg.resolve(o.name)]
                raise UnsupportedOpError(
                    op, o.name, PLUGIN, f"the graph returns {what}, which this plugin does not compute"
                )
        outputs = tuple(_output_slot(slots, steps, o) for o in wg.outputs)
    _assign_frees(steps, outputs, tail, wg.inputs and len(wg.inputs) or 0)
    return Plan(wg.name, len(wg.inputs), slots.template, steps, outputs, tail, len(wg.nodes))


def _check_inplace_updates(wg: WorkGraph) -> None:
    """Refuse in-place primitives whose updated tensor is read again (we compute them out of place)."""
    from .kernels.elementwise import INPLACE_UPDATES

    later: dict[str, int] = {}
    for i, node in enumerate(wg.nodes):
        for item in node.inputs:
            for name in iter_refs(item):
                later[wg.resolve(name)] = i
    outputs = {wg.resolve(n) for o in wg.outputs for n in iter_refs(o)}
    for i, node in enumerate(wg.nodes):
        if node.op in INPLACE_UPDATES and node.inputs and isinstance(node.inputs[0], Ref):
            target = wg.resolve(node.inputs[0].name)
            if (
                later.get(target, -1) > i
                or target in outputs
                or target in {s.name for s in wg.inputs}
                or target in wg.known
            ):
                raise UnsupportedOpError(
                    node.op,
                    node.name,
                    PLUGIN,
                    f"updates '{target}' in place, and the graph reads that tensor elsewhere",
                )


def _output_slot(slots: _Slots, steps: list[Step], item: Input) -> int:
    if isinstance(item, Const):
        return slots.const(item.value)
    if isinstance(item, Ref):
        return slots.of(item.name, None)
    parts = tuple(_output_slot(slots, steps, i) for i in item.items)
    out = slots.new()
    steps.append(Step(_make_tuple, parts, (out,), "output/tuple", "MakeTuple"))
    return out


def _make_tuple(*items: Any) -> tuple[Any, ...]:
    return items


def _assign_frees(steps: list[Step], outputs: tuple[int, ...], tail: TailCall | None, n_inputs: int) -> None:
    """Clear each run-time slot right after its last reader (never outputs or tail-call operands)."""
    keep = set(outputs)
    if tail is not None:
        keep.add(tail.callee)
        keep.update(tail.args)
    produced = set(range(n_inputs))
    for step in steps:
        produced.update(step.outs)
    last_use: dict[int, int] = {}
    for i, step in enumerate(steps):
        for s in step.ins:
            if s in produced:
                last_use[s] = i
    per_step: dict[int, list[int]] = {}
    for s, i in last_use.items():
        if s not in keep:
            per_step.setdefault(i, []).append(s)
    for i, step in enumerate(steps):
        step.free = tuple(per_step.get(i, ()))


def graph_ref_name(value: Any) -> str | None:
    """The graph name of a GraphRef constant, else None."""
    return value.graph if isinstance(value, GraphRef) else None


__all__ = ["Arg", "Plan", "Step", "TailCall", "TupleOf", "build_plan", "graph_ref_name"]
