"""Weights checked against the nodes that use them, before any backend transforms them.

A parameter whose shape disagrees with its use (a BatchNorm beta with dims ``[0]``, a convolution
weight declared 1-D) is a corrupt file. Backends fold weights into each other at compile time
(BatchNorm into the convolution before it); with shapes like these, that folding either fails with
a raw numpy error or, broadcasting, asks for gigabytes. :func:`check_weight_uses` refuses such a
file first, with a :class:`MindIRError` naming the parameter and the node.

Only what is certain is checked: ranks of weights, and sizes against an input whose shape is
static. A use not covered here is left to the backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import MindInferError, MindIRError
from .ir import Graph, Model, Node, Ref, TensorSpec
from .primitives import RUNTIME

__all__ = ["check_weight_uses"]


class _Use:
    """One node's view of its inputs: parameters' arrays and run-time values' specs."""

    def __init__(self, model: Model, graph: Graph, node: Node, params: dict[str, np.ndarray], specs: dict[str, Any]):
        self.model, self.graph, self.node = model, graph, node
        self.params, self.specs = params, specs

    def weight(self, index: int) -> tuple[str, np.ndarray] | None:
        item = self.node.inputs[index] if index < len(self.node.inputs) else None
        if isinstance(item, Ref) and item.name in self.params:
            return item.name, self.params[item.name]
        return None

    def static_shape(self, index: int) -> tuple[int, ...] | None:
        item = self.node.inputs[index] if index < len(self.node.inputs) else None
        if isinstance(item, Ref):
            if item.name in self.params:
                return tuple(self.params[item.name].shape)
            spec = self.specs.get(item.name)
            if isinstance(spec, TensorSpec) and spec.shape is not None and all(d >= 0 for d in spec.shape):
                return spec.shape
        return None

    def arg(self, name: str, default: Any) -> Any:
        """Argument ``name`` by the primitive's signature; ``default`` when unreadable or run-time."""
        try:
            value = self.node.arg(name)
        except MindInferError:  # ArgumentError: the backend reports what it cannot read
            return default
        return default if value is RUNTIME else value

    def fail(self, name: str, data: np.ndarray, needs: str) -> MindIRError:
        return MindIRError(
            f"{self.model.source or 'the model'}: graph '{self.graph.name}': parameter '{name}' has shape "
            f"{list(data.shape)}, but node '{self.node.name}' ({self.node.op}) needs {needs}; "
            "the file is corrupt or its weights were edited"
        )


def _conv(u: _Use) -> None:
    w = u.weight(1)
    if w is None:
        return
    name, data = w
    if data.ndim != 4 or 0 in data.shape:
        raise u.fail(name, data, "a 4-D weight (out_channels, in_channels/group, kh, kw) with no empty dimension")
    x = u.static_shape(0)
    fmt = u.arg("data_format", None)
    groups = u.arg("group", None)
    certain = x is not None and len(x) == 4 and fmt == "NCHW" and isinstance(groups, int) and groups > 0
    if certain and x is not None and data.shape[1] * groups != x[1]:
        raise u.fail(name, data, f"in_channels/group = {x[1]}/{groups} for its input of shape {list(x)}")


def _matmul(u: _Use) -> None:
    shapes = [u.static_shape(0), u.static_shape(1)]
    for index in (0, 1):
        w = u.weight(index)
        if w is not None and (w[1].ndim != 2):
            raise u.fail(w[0], w[1], "a 2-D matrix")
    w = u.weight(1)
    a, b = shapes
    if w is None or a is None or b is None or len(a) != 2 or len(b) != 2:
        return
    ta, tb = bool(u.arg("transpose_a", False)), bool(u.arg("transpose_b", False))
    k_a, k_b = a[0 if ta else 1], b[1 if tb else 0]
    if k_a != k_b:
        raise u.fail(w[0], w[1], f"{k_a} rows{' (transposed)' if tb else ''} to multiply its input of shape {list(a)}")


def _channels(u: _Use) -> int | None:
    x = u.static_shape(0)
    if x is None or len(x) < 2:
        return None
    fmt = u.arg("data_format", None)
    if fmt == "NCHW":
        return x[1]
    if fmt == "NHWC":
        return x[-1]
    return None


def _bias_add(u: _Use) -> None:
    w = u.weight(1)
    if w is None:
        return
    name, data = w
    if data.ndim != 1 or data.size == 0:
        raise u.fail(name, data, "a non-empty 1-D bias")
    c = _channels(u)
    if c is not None and c != data.size:
        raise u.fail(name, data, f"one value per channel ({c})")


def _batch_norm(u: _Use) -> None:
    weights = [w for w in (u.weight(i) for i in range(1, 5)) if w is not None]
    if not weights:
        return
    c = _channels(u)
    size = c if c is not None else weights[0][1].size
    for name, data in weights:
        if data.ndim != 1 or data.size == 0 or data.size != size:
            raise u.fail(name, data, f"a 1-D tensor of one value per channel ({size})")


def _layer_norm(u: _Use) -> None:
    gamma, beta = u.weight(1), u.weight(2)
    if gamma is not None and beta is not None and gamma[1].shape != beta[1].shape:
        raise u.fail(beta[0], beta[1], f"the shape of its gamma '{gamma[0]}' {list(gamma[1].shape)}")
    for w in (gamma, beta):
        if w is not None and w[1].size == 0:
            raise u.fail(w[0], w[1], "a non-empty scale or shift")


_RULES: dict[str, Callable[[_Use], None]] = {
    "Conv2D": _conv,
    "MatMul": _matmul,
    "BiasAdd": _bias_add,
    "BatchNorm": _batch_norm,
    "LayerNorm": _layer_norm,
}


def check_weight_uses(model: Model) -> None:
    """Raise :class:`MindIRError` for a parameter whose shape cannot serve a node that reads it."""
    everywhere = {name: p.data for g in model.graphs for name, p in g.params.items()}
    for graph in model.graphs:
        specs: dict[str, Any] = {s.name: s for s in graph.inputs}
        # A graph input shadows a parameter of the same name (weights bound by Partial).
        params = {k: v for k, v in everywhere.items() if k not in specs}
        params.update((name, p.data) for name, p in graph.params.items())
        for node in graph.nodes:
            rule = _RULES.get(node.op)
            if rule is not None:
                rule(_Use(model, graph, node, params, specs))
            for out, spec in zip(node.outputs, node.out_specs):
                specs[out] = spec
