"""The graph the cpu compiler works on: a private copy of one IR graph and what is known of each value.

Its own module so that the passes and the layout assignment both import it and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from mindinfer.ir import Const, Graph, Input, Node, Ref, TensorSpec, iter_refs

from .registry import Arg

__all__ = ["WorkGraph", "only_user"]


@dataclass
class WorkGraph:
    """One graph being compiled: its nodes plus what is known about each value."""

    name: str
    inputs: list[TensorSpec]
    nodes: list[Node]
    outputs: list[Input]
    known: dict[str, Any] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)
    specs: dict[str, TensorSpec | None] = field(default_factory=dict)

    @classmethod
    def from_graph(cls, graph: Graph, global_params: dict[str, np.ndarray]) -> WorkGraph:
        wg = cls(graph.name, list(graph.inputs), list(graph.nodes), list(graph.outputs))
        input_names = {s.name for s in graph.inputs}
        for name, data in global_params.items():
            if name not in input_names:
                wg.known[name] = data
        for p in graph.params.values():
            wg.known[p.name] = p.data
        for spec in graph.inputs:
            wg.specs[spec.name] = spec
            wg.known.pop(spec.name, None)
        for node in graph.nodes:
            for out, out_spec in zip(node.outputs, node.out_specs or []):
                wg.specs[out] = out_spec
        return wg

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def arg(self, item: Input) -> Arg:
        """How a builder sees one input."""
        if isinstance(item, Const):
            return Arg(True, item.value)
        if isinstance(item, Ref):
            name = self.resolve(item.name)
            if name in self.known:
                return Arg(True, self.known[name])
            return Arg(False, None, self.specs.get(name))
        sub = [self.arg(i) for i in item.items]
        if all(a.known for a in sub):
            return Arg(True, tuple(a.value for a in sub))
        return Arg(False, None, None)

    def args(self, node: Node) -> list[Arg]:
        return [self.arg(i) for i in node.inputs]

    def consumers(self) -> dict[str, list[Node]]:
        users: dict[str, list[Node]] = {}
        for node in self.nodes:
            for item in node.inputs:
                for name in iter_refs(item):
                    users.setdefault(self.resolve(name), []).append(node)
        return users

    def output_names(self) -> set[str]:
        return {self.resolve(n) for o in self.outputs for n in iter_refs(o)}


def only_user(wg: WorkGraph, users: dict[str, list[Node]], outputs: set[str], name: str) -> Node | None:
    """The one node reading ``name``, or None when several do or it is a graph output."""
    if name in outputs:
        return None
    nodes = users.get(name, [])
    return nodes[0] if len(nodes) == 1 else None
