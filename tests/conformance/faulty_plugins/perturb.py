"""``softmax_bug``: the cpu backend, except that every ``Softmax`` output is off by +1e-2.

The fault is planted as a graph rewrite -- each Softmax output ``y`` becomes ``Add(y', 1e-2)`` --
so it reaches exactly the cases that use Softmax, however deep inside a network.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer import Model, hookimpl
from mindinfer.ir import Const, Node, Ref

from . import cpu_backend
from ._wrap import WrappingBackend

PRIMITIVE = "Softmax"
DELTA = 1e-2


class PerturbBackend(WrappingBackend):
    def __init__(self, inner: Any, name: str = "softmax_bug", primitive: str = PRIMITIVE, delta: float = DELTA) -> None:
        super().__init__(inner, name)
        self.primitive, self.delta = primitive, delta

    def rewrite(self, model: Model) -> Model:
        for graph in model.graphs:
            nodes: list[Node] = []
            for node in graph.nodes:
                nodes.append(node)
                if node.op != self.primitive:
                    continue
                for i, out in enumerate(list(node.outputs)):
                    raw = f"{out}__unperturbed"
                    node.outputs[i] = raw
                    spec = node.out_specs[i] if i < len(node.out_specs) else None
                    dtype = np.dtype(spec.dtype) if spec is not None else np.dtype("float32")
                    nodes.append(
                        Node(
                            f"{node.name}__perturb{i}",
                            "Add",
                            [Ref(raw), Const(dtype.type(self.delta))],
                            [out],
                            out_specs=[spec],
                        )
                    )
            graph.nodes = nodes
        return model


@hookimpl
def register_backends(register: Any) -> None:
    register(PerturbBackend(cpu_backend()))
