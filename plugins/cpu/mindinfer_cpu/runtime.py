"""The plan runner: executes plans, closures and calls, with a trampoline for tail calls.

MindSpore exports a ``while`` loop as mutually recursive graphs whose recursive call is the graph's
result (a tail call). The runner turns such calls into iterations of one Python loop, so a loop of
100 000 trips needs no recursion at all; only non-tail calls (an ``if`` inside a loop body) recurse,
one level per nesting depth.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from mindinfer import RunControl
from mindinfer.backend import plugin_message
from mindinfer.errors import InvalidInputError, MindInferError
from mindinfer.ir import GraphRef, Model, Node

from .passes import optimize
from .plan import Plan, build_plan
from .registry import PLUGIN
from .workgraph import WorkGraph

Profile = list[tuple[str, str, float]]


@dataclass(frozen=True)
class Closure:
    """A function graph with some leading arguments already bound (MindSpore's Partial)."""

    graph: str
    bound: tuple[Any, ...] = ()


def as_closure(value: Any, where: str) -> Closure:
    if isinstance(value, Closure):
        return value
    if isinstance(value, GraphRef):
        return Closure(value.graph)
    raise MindInferError(
        plugin_message(PLUGIN, f"{where} calls a value that is not a function graph ({type(value).__name__})")
    )


#: Default of the ``max_loop_iterations`` option: trips of one loop in one run before it is stopped.
DEFAULT_MAX_LOOP_ITERATIONS = 1_000_000


class _RunState(threading.local):
    """What the run in progress on this thread asks for, seen by nested calls (a Call kernel's
    signature is fixed at compile time, so the run's profile and control travel this way)."""

    profile: Profile | None = None
    control: RunControl | None = None


class CompiledProgram:
    """Every graph of a model compiled to a plan; constructing one is compiling (passes, layouts,
    kernel building), up front for every function graph so that unsupported variants surface at
    compile time rather than mid-run."""

    def __init__(self, model: Model, max_loop_iterations: int = DEFAULT_MAX_LOOP_ITERATIONS) -> None:
        self.model = model
        self.max_loop_iterations = max_loop_iterations
        self._state = _RunState()
        global_params = {p.name: p.data for g in model.graphs for p in g.params.values()}
        self.plans: dict[str, Plan] = {}
        # Constant folding runs kernels: under the same errstate as a run, so that NaN and infinity are
        # results here too and no numpy RuntimeWarning reaches the user (README, "NaN and infinity").
        # The model's contradictions are core's checks' (MindIRError, before this) and the builders'
        # (UnsupportedOpError naming the node); any other exception is a bug of this plugin and goes
        # up as it is, for core's compile wrapper to report as a PluginError naming the plugin.
        with np.errstate(all="ignore"):
            for graph in model.graphs:
                wg = optimize(WorkGraph.from_graph(graph, global_params))
                self.plans[graph.name] = build_plan(wg, self._control_flow)
        self.main = self.plans[model.main.name]

    def plan(self, name: str) -> Plan:
        try:
            return self.plans[name]
        except KeyError:
            raise MindInferError(
                plugin_message(PLUGIN, f"the model calls graph '{name}', which it does not contain")
            ) from None

    def _control_flow(self, node: Node, n_outputs: int) -> Callable[..., Any]:
        where = f"node '{node.name}'"
        if node.op == "Partial":

            def partial(fn: Any, *bound: Any) -> Closure:
                c = as_closure(fn, where)
                return Closure(c.graph, c.bound + bound)

            return partial
        if node.op == "Switch":

            def switch(cond: Any, on_true: Any, on_false: Any) -> Any:
                return on_true if bool(np.asarray(cond)) else on_false

            return switch

        def call(fn: Any, *args: Any) -> Any:
            c = as_closure(fn, where)
            outs = self.execute(self.plan(c.graph), list(c.bound) + list(args))
            if n_outputs == 1:
                return outs[0] if len(outs) == 1 else tuple(outs)
            return tuple(outs)

        return call

    def execute(self, plan: Plan, args: list[Any]) -> list[Any]:
        """Run ``plan`` on ``args``, following tail calls iteratively (each one a loop trip)."""
        trips: dict[str, int] = {}
        while True:
            if len(args) != plan.n_inputs:
                raise MindInferError(
                    plugin_message(PLUGIN, f"graph '{plan.name}' takes {plan.n_inputs} arguments, got {len(args)}")
                )
            slots = plan.template.copy()
            slots[: plan.n_inputs] = args
            step = None
            profile, control = self._state.profile, self._state.control
            try:
                if profile is None and control is None:
                    for step in plan.steps:
                        result = step.fn(*[slots[i] for i in step.ins])
                        if step.multi:
                            for o, v in zip(step.outs, result):
                                slots[o] = v
                        else:
                            slots[step.outs[0]] = result
                        for i in step.free:
                            slots[i] = None
                else:
                    for step in plan.steps:
                        if control is not None and control.stop_reason() is not None:  # the message only then
                            control.check(
                                plugin_message(PLUGIN, f"node '{step.name}' ({step.op}) of graph '{plan.name}'")
                            )
                        t0 = time.perf_counter()
                        result = step.fn(*[slots[i] for i in step.ins])
                        if step.multi:
                            for o, v in zip(step.outs, result):
                                slots[o] = v
                        else:
                            slots[step.outs[0]] = result
                        if profile is not None and step.op not in ("Call", "MakeTuple"):
                            profile.append((step.name, step.op, time.perf_counter() - t0))
                        for i in step.free:
                            slots[i] = None
            except MindInferError:
                raise
            except RecursionError:
                raise MindInferError(
                    plugin_message(
                        PLUGIN,
                        f"graph '{plan.name}' nests calls deeper than Python's recursion limit "
                        f"({sys.getrecursionlimit()}); a recursion that is not a loop never ends here",
                    )
                ) from None
            except Exception as exc:
                name, op = (step.name, step.op) if step is not None else ("?", "?")
                raise MindInferError(
                    plugin_message(
                        PLUGIN,
                        f"node '{name}' ({op}) failed at run time: {type(exc).__name__}: {exc}; "
                        "check the input shapes against `mindinfer inspect MODEL`",
                    )
                ) from exc
            if plan.tail is None:
                return [slots[i] for i in plan.outputs]
            c = as_closure(slots[plan.tail.callee], f"graph '{plan.name}'")
            args = list(c.bound) + [slots[i] for i in plan.tail.args]
            count = trips[c.graph] = trips.get(c.graph, 0) + 1
            if count > self.max_loop_iterations:
                raise MindInferError(
                    plugin_message(
                        PLUGIN,
                        f"the loop through graph '{c.graph}' (entered from graph '{plan.name}') "
                        f"ran more than {self.max_loop_iterations} iterations; raise the cpu option "
                        "max_loop_iterations if the model really loops that long, else its exit condition never holds",
                    )
                )
            plan = self.plan(c.graph)

    def run(
        self, inputs: list[np.ndarray], profile: Profile | None = None, control: RunControl | None = None
    ) -> list[np.ndarray]:
        """Run the main graph; outputs that are compile-time constants are copied for the caller."""
        if len(inputs) != self.main.n_inputs:
            raise InvalidInputError(plugin_message(PLUGIN, f"expected {self.main.n_inputs} inputs, got {len(inputs)}"))
        state = self._state
        saved = state.profile, state.control
        state.profile, state.control = profile, control
        try:
            outs = self.execute(self.main, list(inputs))
        finally:
            state.profile, state.control = saved
        return [
            np.array(o, copy=True)
            if not isinstance(o, np.ndarray) or not o.flags.writeable or _is_template(self.main, o)
            else o
            for o in outs
        ]


def _is_template(plan: Plan, value: Any) -> bool:
    return any(value is t for t in plan.template if isinstance(t, np.ndarray))
