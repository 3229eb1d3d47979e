"""The template backend: evaluates a MindIR graph node by node with numpy, on the host CPU.

Each kernel is a numpy function registered under a MindSpore primitive name. It receives every
argument of that primitive **by MindSpore's name**, read through core's signature table
(:mod:`mindinfer.primitives`): ``Conv2D`` gets ``stride=(2, 2)``, ``pad_mode="same"``,
``data_format="NCHW"`` whether the export wrote them as attributes (MindSpore 1.x style) or as
constant inputs with enum codes (2.x style). Arguments known at compile time are bound once in
``_compile``; tensors arrive at run time. Arguments a kernel does not use are absorbed by ``**_``.

A real plugin replaces ``_compile`` (build an engine for your device from the IR) and ``_run``
(copy inputs in, execute, copy outputs out); the rest stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mindinfer
import numpy as np
from mindinfer import BackendBase, Capabilities, Device, ExecutableBase, Model, OpTable, UnsupportedOpError
from mindinfer.ir import Const, Graph, Input, Node, Ref, TupleOf
from mindinfer.primitives import RUNTIME

PLUGIN = "template"
Kernel = Callable[..., Any]
#: MindSpore primitive name -> kernel taking the primitive's arguments by name.
OPS: OpTable[Kernel] = OpTable(PLUGIN)
#: Argument values a kernel does not implement, refused at compile time (never a wrong answer).
ONLY: dict[tuple[str, str], tuple[Any, ...]] = {
    ("Conv2D", "data_format"): ("NCHW",),
    ("Conv2D", "pad_mode"): ("pad", "same", "valid"),
    ("BiasAdd", "data_format"): ("NCHW", "NHWC", "ND"),
}


def _axes(dim: Any) -> Any:
    return tuple(dim) if isinstance(dim, (tuple, list)) else dim


@OPS.register("Conv2D")
def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    *,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pad_mode: str,
    pad: tuple[int, int, int, int],
    group: int,
    **_: Any,
) -> np.ndarray:
    """2-D convolution, NCHW, any stride, dilation, groups and padding rule."""
    (sh, sw), (dh, dw), (kh, kw) = stride, dilation, kernel_size
    n, c, h, wd = x.shape
    if pad_mode == "same":  # MindSpore's (TensorFlow's) rule: the odd pixel goes at the end
        ph = max(0, (-(-h // sh) - 1) * sh + (kh - 1) * dh + 1 - h)
        pw = max(0, (-(-wd // sw) - 1) * sw + (kw - 1) * dw + 1 - wd)
        top, bottom, left, right = ph // 2, ph - ph // 2, pw // 2, pw - pw // 2
    elif pad_mode == "pad":
        top, bottom, left, right = pad
    else:
        top = bottom = left = right = 0
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (xp.shape[2] - (kh - 1) * dh - 1) // sh + 1
    ow = (xp.shape[3] - (kw - 1) * dw - 1) // sw + 1
    o = w.shape[0]
    cg, og = c // group, o // group
    out = np.zeros((n, o, oh, ow), dtype=np.float32)
    for g in range(group):
        xg, wg = xp[:, g * cg : (g + 1) * cg], w[g * og : (g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xg[:, :, i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw]
                out[:, g * og : (g + 1) * og] += np.einsum("nchw,oc->nohw", patch, wg[:, :, i, j])
    return out


@OPS.register("Softmax")
def softmax(input: np.ndarray, *, axis: Any, **_: Any) -> np.ndarray:
    """exp(x - max) / sum over ``axis`` (an int or a one-element tuple)."""
    ax = _axes(axis)
    e = np.exp(input - np.max(input, axis=ax, keepdims=True))
    return (e / np.sum(e, axis=ax, keepdims=True)).astype(input.dtype)


@OPS.register("LayerNorm")
def layer_norm(
    input_x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    *,
    begin_norm_axis: int,
    begin_params_axis: int,
    epsilon: float,
    **_: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalize over the axes from ``begin_norm_axis``; outputs (y, mean, rstd) as MindSpore's."""
    axes = tuple(range(begin_norm_axis % input_x.ndim, input_x.ndim))
    mean = np.mean(input_x, axis=axes, keepdims=True)
    var = np.var(input_x, axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + epsilon)
    y = (input_x - mean) * rstd * gamma + beta
    return y.astype(input_x.dtype), mean.astype(input_x.dtype), rstd.astype(input_x.dtype)


@OPS.register("Concat")
def concat(tensors: tuple[np.ndarray, ...], *, axis: int, **_: Any) -> np.ndarray:
    """Join tensors along ``axis``."""
    return np.concatenate(tensors, axis=axis)


@OPS.register("MatMul")
def matmul(input: np.ndarray, mat2: np.ndarray, *, transpose_a: bool, transpose_b: bool, **_: Any) -> np.ndarray:
    """2-D matrix product, optionally transposing either side."""
    return (input.T if transpose_a else input) @ (mat2.T if transpose_b else mat2)


@OPS.register("BiasAdd")
def bias_add(input_x: np.ndarray, bias: np.ndarray, *, data_format: str, **_: Any) -> np.ndarray:
    """Add a per-channel bias (channel axis 1, or last for NHWC)."""
    axis = input_x.ndim - 1 if data_format == "NHWC" else min(1, input_x.ndim - 1)
    shape = [1] * input_x.ndim
    shape[axis] = -1
    return input_x + bias.reshape(shape)


@OPS.register("Add")
def add(input: Any, other: Any, **_: Any) -> np.ndarray:
    """Element-wise sum with broadcasting."""
    return np.add(input, other)


@OPS.register("ReduceMax")
def reduce_max(x: np.ndarray, *, axis: Any, keep_dims: bool, **_: Any) -> np.ndarray:
    """Maximum over ``axis`` (all axes when empty)."""
    return np.max(x, axis=_axes(axis) or None, keepdims=bool(keep_dims))


@OPS.register("SumExt")
def sum_ext(input: np.ndarray, *, dim: Any, keepdim: bool, **_: Any) -> np.ndarray:
    """Sum over ``dim`` (all axes when None)."""
    return np.sum(input, axis=_axes(dim), keepdims=bool(keepdim), dtype=input.dtype)


@OPS.register("Sigmoid")
def sigmoid(input: np.ndarray, **_: Any) -> np.ndarray:
    """Logistic function."""
    return (1.0 / (1.0 + np.exp(-input))).astype(input.dtype)


@OPS.register("Tanh")
def tanh(input: np.ndarray, **_: Any) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(input)


@dataclass(frozen=True)
class Step:
    """One node, ready to run: its kernel, the arguments bound at compile time, the rest by input."""

    kernel: Kernel
    fixed: dict[str, Any]
    live: dict[str, Input]
    outputs: list[str]


def plan(node: Node) -> Step:
    """Bind ``node``'s compile-time arguments by name; refuse values the kernel does not implement."""
    args = node.args()  # every argument by MindSpore's name; RUNTIME where computed at run time
    for (op, name), allowed in ONLY.items():
        if op == node.op and args[name] not in allowed:
            raise UnsupportedOpError(node.op, node.name, PLUGIN, f"{name}={args[name]!r}; this backend runs {allowed}")
    sig = node.signature
    assert sig is not None  # node.args() raised otherwise
    live = {n: node.inputs[sig[n].index] for n, v in args.items() if v is RUNTIME}  # type: ignore[index]
    fixed = {n: v for n, v in args.items() if v is not RUNTIME}
    return Step(OPS[node.op], fixed, live, node.outputs)


class TemplateExecutable(ExecutableBase):
    """Runs the main graph node by node; values live in a dict keyed by name."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(len(graph.inputs), PLUGIN)
        self._graph = graph
        self._steps = [plan(node) for node in graph.nodes]

    def _run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        env: dict[str, Any] = {p.name: p.data for p in self._graph.params.values()}
        env.update({spec.name: x for spec, x in zip(self._graph.inputs, inputs)})
        for step in self._steps:
            live = {name: self._value(item, env) for name, item in step.live.items()}
            result = step.kernel(**step.fixed, **live)
            results = result if isinstance(result, tuple) else (result,)
            env.update(zip(step.outputs, results))
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

    name = PLUGIN
    device_kinds = ("cpu",)
    priority = -10  # below the bundled cpu plugin: only used when pinned, "cpu@template"
    capabilities = Capabilities(primitives=OPS.names(), dtypes=frozenset({"float32"}))

    def devices(self) -> list[Device]:
        return [Device("cpu", 0, name="host CPU (numpy)")]

    def _compile(self, model: Model, device: Device, options: dict[str, Any]) -> TemplateExecutable:
        return TemplateExecutable(model.main)


@mindinfer.hookimpl
def register_backends(register: Callable[[Any], None]) -> None:
    register(TemplateBackend())
