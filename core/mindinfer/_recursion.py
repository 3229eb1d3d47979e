"""Recursion that nothing stops: function graphs that call each other with no ``Switch`` between.

MindSpore exports a ``while`` loop as graphs calling each other, always through a ``Switch`` that
picks the loop body or the exit. A cycle of calls with no ``Switch`` on it (a graph calling itself
directly, two graphs calling each other) can never end; a backend that follows calls would run
forever. :func:`unguarded_recursion` finds such cycles so that compile refuses them.
"""

from __future__ import annotations

from .ir import Const, GraphRef, Model, Node, Ref

__all__ = ["unguarded_recursion"]


def _callee(item: object, made_by: dict[str, Node]) -> str | None:
    """The graph a Call's callee always is (a graph, or a Partial of one); None if it may vary."""
    for _ in range(len(made_by) + 1):  # a chain of Partials, bounded
        if isinstance(item, Const) and isinstance(item.value, GraphRef):
            return item.value.graph
        if not isinstance(item, Ref) or item.name not in made_by:
            return None
        node = made_by[item.name]
        if node.op != "Partial" or not node.inputs:
            return None  # Switch: the call is guarded by its condition
        item = node.inputs[0]
    return None


def _calls(model: Model) -> dict[str, set[str]]:
    """For each graph, the graphs it calls on every run of it."""
    edges: dict[str, set[str]] = {}
    for graph in model.graphs:
        made_by = {out: node for node in graph.nodes for out in node.outputs}
        targets = set()
        for node in graph.nodes:
            if node.op == "Call" and node.inputs:
                target = _callee(node.inputs[0], made_by)
                if target is not None:
                    targets.add(target)
        edges[graph.name] = targets
    return edges


def unguarded_recursion(model: Model) -> list[str] | None:
    """The graphs of one cycle of unconditional calls (``[g]`` for a graph calling itself), or None."""
    edges = _calls(model)
    done: set[str] = set()
    for start in edges:
        if start in done:
            continue
        # Iterative depth-first search; ``path`` holds the graphs on the current call chain.
        path: list[str] = [start]
        on_path = {start}
        pending = [iter(sorted(edges.get(start, ())))]
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                pending.pop()
                finished = path.pop()
                done.add(finished)
                on_path.discard(finished)
                continue
            if nxt in on_path:
                return path[path.index(nxt) :]
            if nxt in done or nxt not in edges:
                continue
            path.append(nxt)
            on_path.add(nxt)
            pending.append(iter(sorted(edges[nxt])))
    return None
