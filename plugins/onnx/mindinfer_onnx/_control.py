"""Control flow: MindSpore's functional form (Partial, Switch, Call, recursive graphs) to ONNX.

* ``Partial`` and ``Switch`` of closures exist only at conversion time: they record which graph
  would run with which bound arguments.
* ``Call`` of a plain graph inlines it; of a ``Switch`` result becomes an ONNX ``If`` whose branches
  are the two graphs (branches read the caller's values by name, as ONNX scoping allows).
* A graph that calls itself is a ``while`` loop, exported by MindSpore as a *header* graph ``H``:
  it computes a condition, ``Switch`` picks between a closure over the *body* graph (which ends by
  calling ``H`` again with the new loop state) and one over the *exit* graph, and calls it. That
  shape becomes an ONNX ``Loop``; any other recursion is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from mindinfer import ir
from mindinfer.errors import MindInferError, UnsupportedOpError
from mindinfer.ir import Const, GraphRef, Node, Ref

from . import _onnx_pb
from ._graph import PLUGIN, GraphBuilder, Value, make_value_info

if TYPE_CHECKING:
    import onnx


@dataclass(frozen=True)
class PartialClosure:
    """A function graph with some leading arguments bound (IR inputs of the defining scope)."""

    graph: str
    bound: tuple[ir.Input, ...]


@dataclass(frozen=True)
class SwitchClosure:
    """One of two closures, chosen at run time by ``cond`` (an ONNX value name)."""

    cond: str
    on_true: PartialClosure
    on_false: PartialClosure


Closure = PartialClosure | SwitchClosure


def lower_nodes(b: GraphBuilder, graph: ir.Graph, skip: Node | None = None, stop_at: Node | None = None) -> None:
    """Lower ``graph``'s nodes in order into ``b`` (leaving out ``skip``; stopping before ``stop_at``)."""
    from .lowering import LOWERINGS

    for node in graph.nodes:
        if node is stop_at:
            break
        if node is skip:
            continue
        b.current = node
        fn = _CONTROL.get(node.op) or LOWERINGS.get(node.op)
        if fn is None:
            raise UnsupportedOpError(node.op, node.name, PLUGIN, "the ONNX converter has no lowering for it")
        try:
            fn(b, node)
        except MindInferError:
            raise
        except (IndexError, KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            # A node whose arguments are not what its primitive takes (too few inputs, a None where
            # a size belongs): refuse it by name rather than let a lowering's own error escape.
            raise b.unsupported(
                f"cannot lower this node: {len(node.inputs)} input(s) that do not fit the primitive's "
                f"arguments ({type(exc).__name__}: {exc})"
            ) from exc


# -- the three control-flow primitives ------------------------------------------------------------
def lower_partial(b: GraphBuilder, node: Node) -> None:
    """Record the closure; nothing is emitted."""
    b.closures[node.outputs[0]] = PartialClosure(_graph_name(b, node.inputs[0]), tuple(node.inputs[1:]))


def lower_switch(b: GraphBuilder, node: Node) -> None:
    """Record a choice between closures, or select between two tensors (Where)."""
    on_true, on_false = (_closure(b, item) for item in node.inputs[1:3])
    cond = _bool(b, _value(b, node.inputs[0]))
    if isinstance(on_true, PartialClosure) and isinstance(on_false, PartialClosure):
        b.closures[node.outputs[0]] = SwitchClosure(cond, on_true, on_false)
        return
    if on_true is None and on_false is None:
        name = b.op1("Where", [cond, _value(b, node.inputs[1]), _value(b, node.inputs[2])])
        b.bind(node.outputs[0], name)
        return
    raise b.unsupported("Switch between a closure and a value is not supported")


def lower_call(b: GraphBuilder, node: Node) -> None:
    """Inline a graph call, or emit If / Loop for a switched or recursive call."""
    callee = node.inputs[0]
    args = tuple(node.inputs[1:])
    if isinstance(callee, Const) and isinstance(callee.value, GraphRef):
        closure: Closure | None = PartialClosure(callee.value.graph, ())
    else:
        closure = _closure(b, callee)
    if isinstance(closure, PartialClosure):
        results = call_graph(b, closure.graph, _resolve(b, closure.bound + args))
    elif isinstance(closure, SwitchClosure):
        results = _lower_if(b, closure, _resolve(b, args))
    else:
        raise b.unsupported("Call of a value that is not a function graph or closure")
    if len(results) != len(node.outputs):
        raise b.unsupported(f"Call returns {len(results)} values but the node has {len(node.outputs)} outputs")
    for ir_name, name in zip(node.outputs, results):
        b.bind(ir_name, name)


_CONTROL = {"Partial": lower_partial, "Switch": lower_switch, "Call": lower_call}


# -- helpers --------------------------------------------------------------------------------------
def _graph_name(b: GraphBuilder, item: ir.Input) -> str:
    if isinstance(item, Const) and isinstance(item.value, GraphRef):
        return item.value.graph
    raise b.unsupported("Partial of something other than a function graph")


def _closure(b: GraphBuilder, item: ir.Input) -> Closure | None:
    if isinstance(item, Ref):
        return b.lookup_closure(item.name)  # type: ignore[no-any-return]
    if isinstance(item, Const) and isinstance(item.value, GraphRef):
        return PartialClosure(item.value.graph, ())
    return None


def _value(b: GraphBuilder, item: ir.Input) -> str:
    if isinstance(item, Ref):
        return b.lookup(item.name)
    if isinstance(item, Const) and not isinstance(item.value, GraphRef) and item.value is not None:
        return b.const(np.asarray(item.value))
    raise b.unsupported(f"control-flow argument {item!r} is not a tensor")


def _resolve(b: GraphBuilder, items: Sequence[ir.Input]) -> list[str]:
    return [_value(b, item) for item in items]


def _bool(b: GraphBuilder, name: str) -> str:
    return b.cast(name, "bool")


def _graph(b: GraphBuilder, name: str) -> ir.Graph:
    try:
        return b.conversion.ir_model.graph(name)
    except KeyError:
        raise b.unsupported(f"function graph '{name}' is missing from the model") from None


def call_graph(b: GraphBuilder, name: str, args: list[str]) -> list[str]:
    """The ONNX names of ``name``'s outputs when called with ``args``: inlined, or a Loop."""
    graph = _graph(b, name)
    if _is_recursive(b, name):
        return _lower_loop(b, graph, args)
    scope = b.inline_scope(name)
    return lower_graph(scope, graph, args)


def lower_graph(scope: GraphBuilder, graph: ir.Graph, args: list[str]) -> list[str]:
    """Lower ``graph``'s nodes into ``scope`` with its inputs bound to ``args``; returns its outputs."""
    if len(args) != len(graph.inputs):
        raise scope.unsupported(f"graph '{graph.name}' takes {len(graph.inputs)} arguments, got {len(args)}")
    for spec, name in zip(graph.inputs, args):
        scope.bind(spec.name, name)
    lower_nodes(scope, graph)
    return [_value(scope, item) for item in graph.outputs]


def _node_callees(node: Node) -> set[str]:
    return {i.value.graph for i in node.inputs if isinstance(i, Const) and isinstance(i.value, GraphRef)}


def _callees(graph: ir.Graph) -> set[str]:
    return {g for node in graph.nodes for g in _node_callees(node)}


def _is_recursive(b: GraphBuilder, name: str) -> bool:
    seen: set[str] = set()
    todo = list(_callees(_graph(b, name)))
    while todo:
        g = todo.pop()
        if g == name:
            return True
        if g not in seen:
            seen.add(g)
            todo.extend(_callees(_graph(b, g)))
    return False


def _subgraph(
    b: GraphBuilder,
    name: str,
    nodes: list[onnx.NodeProto],
    outputs: list[str],
    specs: Sequence[Value | None],
    inputs: list[onnx.ValueInfoProto] | None = None,
    produced: set[str] | None = None,
) -> onnx.GraphProto:
    """Wrap nodes as an If/Loop body; outputs not computed inside get an Identity (ONNX requires it)."""
    final = []
    for out, spec in zip(outputs, specs):
        if produced is None or out not in produced:
            new = b.conversion.fresh(f"{name}/out")
            nodes.append(_onnx_pb.make_node("Identity", [out], [new], name=b.conversion.fresh(f"{name}/Identity")))
            out = new
        final.append(out)
    infos = [_info(b, o, s) for o, s in zip(final, specs)]
    return _onnx_pb.make_graph(nodes, name, inputs or [], infos)


def _info(b: GraphBuilder, name: str, spec: Value | None) -> onnx.ValueInfoProto:
    spec = spec or b.info(name)
    if spec is None:
        raise b.unsupported(f"the dtype of control-flow value '{name}' is not known")
    return make_value_info(name, spec.dtype, None)


# -- If ---------------------------------------------------------------------------------------------
def _lower_if(b: GraphBuilder, switch: SwitchClosure, args: list[str]) -> list[str]:
    branches: list[tuple[onnx.GraphProto, list[Value | None]]] = []
    for label, closure in (("then", switch.on_true), ("else", switch.on_false)):
        graph = _graph(b, closure.graph)
        sub = GraphBuilder(b.conversion, parent=b, scope=f"{graph.name}")
        sub.current = b.current
        results = call_graph(sub, closure.graph, _resolve(b, closure.bound) + args)
        specs = [b.info(r) for r in results]
        name = b.conversion.fresh(f"{b.current.name if b.current else 'if'}/{label}")
        branches.append((_subgraph(b, name, sub.nodes, results, specs, produced=sub.produced), specs))
    (then_g, then_specs), (else_g, _) = branches
    outs = b.op("If", [switch.cond], len(then_specs), then_branch=then_g, else_branch=else_g)
    for name, spec in zip(outs, then_specs):
        if spec is not None:
            b.conversion.info[name] = Value(spec.dtype, None)
    return outs


# -- Loop -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _WhileShape:
    header: ir.Graph
    switch: Node
    call: Node
    body: PartialClosure
    exit: PartialClosure
    continue_if_true: bool


def _match_while(b: GraphBuilder, header: ir.Graph) -> _WhileShape:
    """Recognise header(state) = Switch(cond, Partial(body..), Partial(exit..))(extra..)."""
    producers = header.producers()
    outs = [item for item in header.outputs if isinstance(item, Ref)]
    call = producers.get(outs[0].name) if outs and len(outs) == len(header.outputs) else None
    if call is None or call.op != "Call" or any(producers.get(o.name) is not call for o in outs):
        raise b.unsupported(
            f"recursive graph '{header.name}' does not end in a call of a Switch; not a while loop", "Call"
        )
    sw = producers.get(call.inputs[0].name) if isinstance(call.inputs[0], Ref) else None
    if sw is None or sw.op != "Switch":
        raise b.unsupported(f"recursive graph '{header.name}' is not a while loop (no Switch)", "Call")
    closures = []
    for item in sw.inputs[1:3]:
        p = producers.get(item.name) if isinstance(item, Ref) else None
        if p is None or p.op != "Partial":
            raise b.unsupported(f"while loop '{header.name}': Switch operands are not Partial closures", "Call")
        closures.append(PartialClosure(_graph_name(b, p.inputs[0]), tuple(p.inputs[1:])))
    loops = [c for c in closures if _reaches(b, c.graph, header.name)]
    if len(loops) != 1:
        raise b.unsupported(f"while loop '{header.name}': expected exactly one branch that loops", "Call")
    body = loops[0]
    exit_ = closures[1] if body is closures[0] else closures[0]
    return _WhileShape(header, sw, call, body, exit_, continue_if_true=body is closures[0])


def _reaches(b: GraphBuilder, start: str, target: str) -> bool:
    seen: set[str] = set()
    todo = [start]
    while todo:
        g = todo.pop()
        if g == target:
            return True
        if g not in seen:
            seen.add(g)
            todo.extend(_callees(_graph(b, g)))
    return False


def _lower_body(b: GraphBuilder, graph: ir.Graph, args: list[str], header: str) -> list[str]:
    """Lower a loop body up to its tail call of ``header`` (directly, or through graphs it tail-calls
    in turn); returns the ONNX names of the next loop state."""
    producers = graph.producers()
    outs = [item for item in graph.outputs if isinstance(item, Ref)]
    tail = producers.get(outs[0].name) if outs else None
    callee = tail.inputs[0] if tail is not None and tail.inputs else None
    if (
        tail is None
        or tail.op != "Call"
        or not (isinstance(callee, Const) and isinstance(callee.value, GraphRef))
        or len(outs) != len(graph.outputs)
        or any(producers.get(o.name) is not tail for o in outs)
        or not _reaches(b, callee.value.graph, header)
    ):
        raise b.unsupported(f"while-loop body '{graph.name}' does not end by calling '{header}' again", "Call")
    if any(_reaches(b, g, header) for n in graph.nodes if n is not tail for g in _node_callees(n)):
        raise b.unsupported(f"while-loop body '{graph.name}' calls '{header}' other than as its last step", "Call")
    scope = b.inline_scope(graph.name)
    if len(args) != len(graph.inputs):
        raise b.unsupported(f"graph '{graph.name}' takes {len(graph.inputs)} arguments, got {len(args)}", "Call")
    for spec, name in zip(graph.inputs, args):
        scope.bind(spec.name, name)
    lower_nodes(scope, graph, skip=tail)
    new_args = _resolve(scope, tail.inputs[1:])
    target = callee.value.graph
    if target == header:
        return new_args
    return _lower_body(scope, _graph(b, target), new_args, header)


def _header(b: GraphBuilder, shape: _WhileShape, state: list[str]) -> tuple[GraphBuilder, str]:
    """Lower the header's computations on ``state`` in a new scope of ``b``; returns (scope, continue?)."""
    scope = b.inline_scope(shape.header.name)
    for spec, name in zip(shape.header.inputs, state):
        scope.bind(spec.name, name)
    lower_nodes(scope, shape.header, stop_at=shape.switch)
    cond = _bool(scope, _value(scope, shape.switch.inputs[0]))
    if not shape.continue_if_true:
        cond = scope.op1("Not", [cond])
    return scope, cond


def _state_dtype(b: GraphBuilder, spec: ir.TensorSpec, init: str) -> np.dtype:
    """A loop variable's dtype: exported, or (for Python scalars, exported as 'object') its initial value's."""
    if spec.dtype != "object":
        return np.dtype(spec.dtype)
    info = b.info(init)
    if info is None:
        raise b.unsupported(f"the type of loop variable '{spec.name}' is not known", "Call")
    return info.dtype


def _state_shape(b: GraphBuilder, spec: ir.TensorSpec, init: str) -> tuple[int, ...] | None:
    """A loop variable's shape as far as every iteration agrees: MindSpore's exported shape of the loop
    state (it joins the shapes of all iterations, -1 where they differ), kept only where the initial
    value agrees. Lowerings in the body need at least the rank (MatMul's transposes, for one)."""
    info = b.info(init)
    if spec.shape is None or info is None or info.shape is None or len(info.shape) != len(spec.shape):
        return None
    return tuple(a if a == c else -1 for a, c in zip(spec.shape, info.shape))


def _lower_loop(b: GraphBuilder, header: ir.Graph, init: list[str]) -> list[str]:
    shape = _match_while(b, header)
    body_graph = _graph(b, shape.body.graph)
    n = len(header.inputs)
    if len(init) != n:
        raise b.unsupported(f"while loop '{header.name}' takes {n} state values, got {len(init)}", "Call")
    _, cond0 = _header(b, shape, init)

    # The body: state in, (header; body; header again for the next condition), state out.
    lb = GraphBuilder(b.conversion, parent=b, scope=f"{header.name}/loop")
    lb.current = b.current
    iter_name, cond_in = b.conversion.fresh(f"{header.name}/iter"), b.conversion.fresh(f"{header.name}/cond_in")
    state_in = [b.conversion.fresh(f"{header.name}/{s.name}") for s in header.inputs]
    dtypes = [_state_dtype(b, spec, name) for spec, name in zip(header.inputs, init)]
    shapes = [_state_shape(b, spec, name) for spec, name in zip(header.inputs, init)]
    for name, dt, sh in zip(state_in, dtypes, shapes):
        b.conversion.info[name] = Value(dt, sh)
    hs, _ = _header(lb, shape, state_in)
    body_args = _resolve(hs, shape.body.bound) + _resolve(hs, shape.call.inputs[1:])
    new_state = _lower_body(hs, body_graph, body_args, header.name)
    if len(new_state) != n:
        raise b.unsupported(f"while-loop body '{body_graph.name}' passes {len(new_state)} values, expected {n}", "Call")
    _, cond_next = _header(lb, shape, new_state)
    # A loop variable keeps one dtype (Python scalars may come back as another width).
    new_state = [lb.cast(v, dt) for v, dt in zip(new_state, dtypes)]
    specs = [Value(np.dtype("bool"), ())] + [Value(dt, None) for dt in dtypes]
    inputs = [make_value_info(iter_name, "int64", []), make_value_info(cond_in, "bool", [])] + [
        make_value_info(name, dt, None) for name, dt in zip(state_in, dtypes)
    ]
    loop_body = _subgraph(
        b,
        b.conversion.fresh(f"{header.name}/body"),
        lb.nodes,
        [cond_next, *new_state],
        specs,
        inputs=inputs,
        produced=lb.produced - set(state_in),
    )
    final = b.op("Loop", ["", cond0, *init], n, body=loop_body, hint=f"{header.name}")
    for name, dt, sh in zip(final, dtypes, shapes):
        b.conversion.info[name] = Value(dt, sh)

    # After the loop: the exit branch on the final state.
    es, _ = _header(b, shape, final)
    extra = _resolve(es, shape.call.inputs[1:])
    return call_graph(es, shape.exit.graph, _resolve(es, shape.exit.bound) + extra)
