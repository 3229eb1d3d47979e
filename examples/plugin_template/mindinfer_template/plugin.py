"""The template backend: evaluates a MindIR graph node by node with numpy, on the host CPU.

A real plugin replaces ``_compile`` (build an engine for your device from the IR) and
``_run`` (copy inputs in, execute, copy outputs out); the rest stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mindinfer
import numpy as np
from mindinfer import BackendBase, Capabilities, Device, ExecutableBase, Model
from mindinfer.ir import Const, Graph, Input, Ref, TupleOf

Kernel = Callable[..., np.ndarray]
#: MindSpore primitive name -> kernel taking the node's evaluated inputs in argument order.
KERNELS: dict[str, Kernel] = {}


def kernel(name: str) -> Callable[[Kernel], Kernel]:
    def add(fn: Kernel) -> Kernel:
        KERNELS[name] = fn
        return fn

    return add


def _axes(dim: Any) -> Any:
    return tuple(dim) if isinstance(dim, (tuple, list)) else dim


@kernel("Concat")
def concat(tensors: tuple[np.ndarray, ...], axis: int = 0) -> np.ndarray:
    """Join tensors along ``axis``."""
    return np.concatenate(tensors, axis=axis)


@kernel("MatMul")
def matmul(a: np.ndarray, b: np.ndarray, transpose_a: bool = False, transpose_b: bool = False) -> np.ndarray:
    """2-D matrix product, optionally transposing either side."""
    return (a.T if transpose_a else a) @ (b.T if transpose_b else b)


@kernel("BiasAdd")
def bias_add(x: np.ndarray, bias: np.ndarray, data_format: Any = 0) -> np.ndarray:
    """Add a per-channel bias (channel axis 1, or last for NHWC)."""
    axis = x.ndim - 1 if data_format in (1, "NHWC") else min(1, x.ndim - 1)
    shape = [1] * x.ndim
    shape[axis] = -1
    return x + bias.reshape(shape)


@kernel("Add")
def add(x: Any, y: Any) -> np.ndarray:
    """Element-wise sum with broadcasting."""
    return np.add(x, y)


@kernel("ReduceMax")
def reduce_max(x: np.ndarray, axis: Any = (), keep_dims: bool = False) -> np.ndarray:
    """Maximum over ``axis`` (all axes when empty)."""
    return np.max(x, axis=_axes(axis) or None, keepdims=bool(keep_dims))


@kernel("SumExt")
def sum_ext(x: np.ndarray, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> np.ndarray:
    """Sum over ``dim`` (all axes when None)."""
    return np.sum(x, axis=_axes(dim), keepdims=bool(keepdim), dtype=x.dtype)


@kernel("Sigmoid")
def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)


@kernel("Tanh")
def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(x)


class TemplateExecutable(ExecutableBase):
    """Runs the main graph node by node; values live in a dict keyed by name."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(len(graph.inputs), TemplateBackend.name)
        self._graph = graph

    def _run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        env: dict[str, Any] = {p.name: p.data for p in self._graph.params.values()}
        env.update({spec.name: x for spec, x in zip(self._graph.inputs, inputs)})
        for node in self._graph.nodes:
            result = KERNELS[node.op](*(self._value(i, env) for i in node.inputs))
            env[node.outputs[0]] = result
        return [np.asarray(self._value(o, env)) for o in self._graph.outputs]

    def _value(self, item: Input, env: dict[str, Any]) -> Any:
        if isinstance(item, Ref):
            return env[item.name]
        if isinstance(item, TupleOf):
            return tuple(self._value(i, env) for i in item.items)
        assert isinstance(item, Const)
        return item.value


class TemplateBackend(BackendBase):
    """Declares what it can do as data; core checks the graph against it before ``_compile``."""

    name = "template"
    device_kinds = ("cpu",)
    priority = -10  # below the bundled cpu plugin: only used when pinned, "cpu@template"
    capabilities = Capabilities(primitives=frozenset(KERNELS), dtypes=frozenset({"float32"}))

    def devices(self) -> list[Device]:
        return [Device("cpu", 0, name="host CPU (numpy)")]

    def _compile(self, model: Model, device: Device, options: dict[str, Any]) -> TemplateExecutable:
        return TemplateExecutable(model.main)


@mindinfer.hookimpl
def register_backends(register: Callable[[Any], None]) -> None:
    register(TemplateBackend())
