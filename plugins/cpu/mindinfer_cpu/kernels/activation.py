"""Activation primitives. The in-place forms (``act_inplace``) are what conv/matmul epilogues fuse."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from mindinfer.ir import Node

from ..registry import Arg, Kernel, kernel, param, simple
from ._util import axes
from .elementwise import erf


def relu_(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def relu6_(x: np.ndarray) -> np.ndarray:
    # np.clip is one SIMD pass (6x faster than maximum+minimum on large arrays).
    return np.clip(x, 0, 6, out=x)


def sigmoid_(x: np.ndarray) -> np.ndarray:
    np.negative(x, out=x)
    # exp overflows to inf for x < -88 (float32) and 1 / (1 + inf) is the right 0: not worth a warning.
    with np.errstate(over="ignore"):
        np.exp(x, out=x)
    x += 1
    return np.reciprocal(x, out=x)


def hswish_(x: np.ndarray) -> np.ndarray:
    t = x + 3
    np.clip(t, 0, 6, out=t)
    t *= 1 / 6
    x *= t
    return x


def hsigmoid_(x: np.ndarray) -> np.ndarray:
    x += 3
    np.clip(x, 0, 6, out=x)
    x *= 1 / 6
    return x


def silu_(x: np.ndarray) -> np.ndarray:
    s = sigmoid_(x.copy())
    x *= s
    return x


def tanh_(x: np.ndarray) -> np.ndarray:
    return np.tanh(x, out=x)


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """MindSpore's GeLU: the tanh approximation 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))."""
    inner = x * x
    inner *= 0.044715 * x
    inner += x
    inner *= math.sqrt(2.0 / math.pi)
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= x
    inner *= 0.5
    return inner


def gelu_erf(x: np.ndarray) -> np.ndarray:
    """Exact GeLU: 0.5x(1+erf(x/sqrt 2))."""
    return (0.5 * x * (1.0 + erf(x * (1 / math.sqrt(2.0))))).astype(x.dtype, copy=False)


def _float(x: Any) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


#: In-place activations by primitive name; these are the ones that fuse into conv/matmul epilogues.
INPLACE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "ReLU": relu_,
    "ReLU6": relu6_,
    "Sigmoid": sigmoid_,
    "HSwish": hswish_,
    "HSigmoid": hsigmoid_,
    "SiLU": silu_,
    "Tanh": tanh_,
}

for _name, _fn in INPLACE.items():
    simple(_name)(lambda x, *_, _f=_fn: _f(_float(x).copy()))


@simple("GeLU")
def gelu(x: Any) -> Any:
    """GeLU, tanh approximation (MindSpore's GeLU primitive)."""
    return gelu_tanh(_float(x))


@kernel("GeluExt")
def build_gelu_ext(node: Node, args: list[Arg]) -> Kernel:
    """GeLU with ``approximate`` 'none' (erf) or 'tanh'."""
    approx = param(node, args, "approximate")
    exact = approx in ("none", 0, None)
    return lambda x, *_: gelu_erf(_float(x)) if exact else gelu_tanh(_float(x))


@simple("FastGeLU")
def fast_gelu(x: Any) -> Any:
    """x / (1 + exp(-1.702|x|)) * exp(0.851(x - |x|))."""
    x = _float(x)
    ax = np.abs(x)
    return x / (1 + np.exp(-1.702 * ax)) * np.exp(0.851 * (x - ax))


def softmax(x: np.ndarray, axis: Any = -1) -> np.ndarray:
    """Numerically stable softmax over ``axis`` (int or tuple)."""
    ax = axes(axis, x.ndim)
    e = x - np.max(x, axis=ax, keepdims=True)
    np.exp(e, out=e)
    e /= np.sum(e, axis=ax, keepdims=True)
    return e


@simple("Softmax")
def softmax_kernel(x: Any, axis: Any = -1) -> Any:
    """Softmax over ``axis``."""
    return softmax(_float(x), axis)


@simple("LogSoftmax", "LogSoftmaxExt")
def log_softmax(x: Any, axis: Any = -1, *_: Any) -> Any:
    """log(softmax(x)) over ``axis``."""
    x = _float(x)
    ax = axes(axis, x.ndim)
    s = x - np.max(x, axis=ax, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=ax, keepdims=True))


@kernel("LeakyReLU", "LeakyReLUExt")
def build_leaky_relu(node: Node, args: list[Arg]) -> Kernel:
    """max(x, alpha x)."""
    alpha = float(param(node, args, "alpha", "negative_slope"))
    return lambda x, *_: np.where(x >= 0, x, x * np.asarray(alpha, x.dtype))


@kernel("Elu")
def build_elu(node: Node, args: list[Arg]) -> Kernel:
    """x if x > 0 else alpha (exp(x) - 1)."""
    alpha = float(param(node, args, "alpha"))
    return lambda x, *_: np.where(x > 0, x, (alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype))


@simple("PReLU")
def prelu(x: Any, w: Any) -> Any:
    """max(x, 0) + w min(x, 0), w per channel (axis 1)."""
    w = np.asarray(w, x.dtype)
    if w.ndim == 1 and x.ndim > 1 and w.size > 1:
        w = w.reshape((1, -1) + (1,) * (x.ndim - 2))
    return np.where(x >= 0, x, x * w)


@kernel("Softplus", "SoftplusExt")
def build_softplus(node: Node, args: list[Arg]) -> Kernel:
    """log(1 + exp(beta x)) / beta, linear above ``threshold``."""
    # The 1.x Softplus has no arguments: beta 1, threshold 20 (what SoftplusExt defaults to).
    ext = node.op == "SoftplusExt"
    beta = float(param(node, args, "beta")) if ext else 1.0
    threshold = float(param(node, args, "threshold")) if ext else 20.0

    def run(x: Any, *_: Any) -> Any:
        x = _float(x)
        bx = x * beta
        return np.where(bx > threshold, x, np.logaddexp(0, bx) / beta).astype(x.dtype)

    return run


@simple("Mish", "MishExt")
def mish(x: Any) -> Any:
    """x tanh(softplus(x))."""
    x = _float(x)
    return (x * np.tanh(np.logaddexp(0, x))).astype(x.dtype)


@simple("Softsign")
def softsign(x: Any) -> Any:
    """x / (1 + |x|)."""
    x = _float(x)
    return x / (1 + np.abs(x))


@simple("SeLU", "SeLUExt")
def selu(x: Any) -> Any:
    """scale (max(0,x) + min(0, alpha (exp(x)-1)))."""
    x = _float(x)
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return (scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))).astype(x.dtype)


@kernel("HShrink", "HardShrink")
def build_hshrink(node: Node, args: list[Arg]) -> Kernel:
    """x where |x| > lambd else 0."""
    lambd = float(param(node, args, "lambd"))
    return lambda x, *_: np.where(np.abs(x) > lambd, x, np.zeros((), x.dtype))


@simple("ClampScalar")
def clamp_scalar(x: Any, lo: Any = None, hi: Any = None) -> Any:
    """Clip to [lo, hi] (either may be None)."""
    x = np.asarray(x)
    return np.clip(x, lo, hi).astype(x.dtype, copy=False)


@simple("ClampTensor")
def clamp_tensor(x: Any, lo: Any = None, hi: Any = None) -> Any:
    """Clip to tensor bounds (either may be None)."""
    x = np.asarray(x)
    if lo is not None:
        x = np.maximum(x, lo).astype(x.dtype, copy=False)
    if hi is not None:
        x = np.minimum(x, hi).astype(x.dtype, copy=False)
    return x
