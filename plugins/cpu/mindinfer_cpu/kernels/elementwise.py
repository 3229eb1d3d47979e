"""Elementwise arithmetic, comparison and logic primitives (numpy broadcasting, MindSpore dtypes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from mindinfer.ir import Node

from ..registry import Arg, Kernel, kernel, param, simple, unsupported
from ._util import result_dtype

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Muls": np.multiply,
    "Div": np.true_divide,
    "RealDiv": np.true_divide,
    "DivNoNan": None,  # type: ignore[dict-item]  # set below
    "Maximum": np.maximum,
    "Minimum": np.minimum,
    "Pow": np.power,
    "FloorDiv": np.floor_divide,
    "FloorMod": np.mod,
    "Mod": np.fmod,
    "SquaredDifference": lambda a, b: np.square(np.subtract(a, b)),
    "Atan2": np.arctan2,
}


def _div_no_nan(a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.true_divide(a, b)
    return np.where(np.asarray(b) == 0, np.zeros((), out.dtype), out)


_BINARY["DivNoNan"] = _div_no_nan


def _binary_builder(fn: Callable[[Any, Any], Any]) -> Callable[[Node, list[Arg]], Kernel]:
    def build(node: Node, args: list[Arg]) -> Kernel:
        """Binary op with MindSpore's dtype rule (a scalar never widens a tensor)."""

        def run(a: Any, b: Any, *_: Any) -> Any:
            dt = result_dtype(a, b)
            out = fn(a, b)
            out = np.asarray(out)
            return out if out.dtype == dt or out.dtype == np.bool_ else out.astype(dt, copy=False)

        # Fast path: both sides' dtypes agree already (float32 tensor with float32 weights, or a
        # Python scalar that numpy 2 keeps at the tensor's precision).
        known = [a for a in args[:2] if a.known]
        if len(known) == 1:
            other = args[1] if args[0].known else args[0]
            kval = known[0].value
            if other.spec is not None and isinstance(kval, np.ndarray) and kval.dtype.kind == "f":
                odt = np.dtype(other.spec.dtype)
                if odt.kind == "f" and kval.dtype != odt:
                    kval = kval.astype(odt)
                if odt.kind == "f":
                    if args[0].known:
                        return lambda a, b, *_: fn(kval, b)
                    return lambda a, b, *_: fn(a, kval)
        return run

    return build


for _name, _fn in _BINARY.items():
    kernel(_name)(_binary_builder(_fn))


@simple("AddExt")
def add_ext(a: Any, b: Any, alpha: Any = 1) -> Any:
    """a + alpha * b."""
    dt = result_dtype(a, b)
    return np.asarray(a + (b if alpha == 1 else np.multiply(b, alpha))).astype(dt, copy=False)


@simple("SubExt")
def sub_ext(a: Any, b: Any, alpha: Any = 1) -> Any:
    """a - alpha * b."""
    dt = result_dtype(a, b)
    return np.asarray(a - (b if alpha == 1 else np.multiply(b, alpha))).astype(dt, copy=False)


@simple("Adds")
def adds(a: Any, b: Any, alpha: Any = 1) -> Any:
    """Tensor plus scalar."""
    return add_ext(a, b, alpha)


@simple("Subs")
def subs(a: Any, b: Any, alpha: Any = 1) -> Any:
    """Tensor minus scalar."""
    return sub_ext(a, b, alpha)


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "Equal": np.equal,
    "NotEqual": np.not_equal,
    "Less": np.less,
    "LessEqual": np.less_equal,
    "Greater": np.greater,
    "GreaterEqual": np.greater_equal,
    "LogicalAnd": np.logical_and,
    "LogicalOr": np.logical_or,
    "LogicalXor": np.logical_xor,
    "BitwiseAnd": np.bitwise_and,
    "BitwiseOr": np.bitwise_or,
    "BitwiseXor": np.bitwise_xor,
}

for _name, _cmp in _COMPARE.items():
    simple(_name)(lambda a, b, *_, _f=_cmp: np.asarray(_f(a, b)))


def _float_unary(fn: Callable[[Any], Any]) -> Kernel:
    def run(x: Any, *_: Any) -> Any:
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        return fn(x)

    return run


_UNARY_FLOAT: dict[str, Callable[[Any], Any]] = {
    "Sqrt": np.sqrt,
    "Rsqrt": lambda x: np.reciprocal(np.sqrt(x)),
    "Exp": np.exp,
    "Log": np.log,
    "Log1p": np.log1p,
    "Expm1": np.expm1,
    "Reciprocal": np.reciprocal,
    "Sin": np.sin,
    "Cos": np.cos,
    "Tan": np.tan,
    "Asin": np.arcsin,
    "Acos": np.arccos,
    "Atan": np.arctan,
    "Sinh": np.sinh,
    "Cosh": np.cosh,
    "Asinh": np.arcsinh,
    "Acosh": np.arccosh,
    "Atanh": np.arctanh,
    "Inv": np.reciprocal,
}

for _name, _u in _UNARY_FLOAT.items():
    simple(_name)(_float_unary(_u))

_UNARY_ANY: dict[str, Callable[[Any], Any]] = {
    "Neg": np.negative,
    "Abs": np.abs,
    "Square": np.square,
    "Sign": np.sign,
    "Floor": np.floor,
    "Ceil": np.ceil,
    "Trunc": np.trunc,
    "LogicalNot": np.logical_not,
    "IsNan": np.isnan,
    "IsInf": np.isinf,
    "IsFinite": np.isfinite,
}

for _name, _u in _UNARY_ANY.items():
    simple(_name)(lambda x, *_, _f=_u: np.asarray(_f(x)))


@kernel("Round")
def round_(node: Node, args: list[Arg]) -> Kernel:
    """Round half to even; like MindSpore's CPU kernel, only ``decimals=0``."""
    decimals = param(node, args, "decimals")
    if decimals not in (0, None):
        # MindSpore 2.10 itself refuses this on CPU ("only support decimals equal 0"), so there
        # is no reference to match: refuse it rather than ignore the argument.
        raise unsupported(node, f"decimals={decimals} (MindSpore's CPU kernel supports only 0)")
    return lambda x, *_: np.asarray(np.round(x))


def erf(x: np.ndarray) -> np.ndarray:
    """Error function in numpy alone: Taylor series near 0, Abramowitz-Stegun 7.1.26 elsewhere."""
    x64 = np.asarray(x, dtype=np.float64)
    a = np.abs(x64)
    # A&S 7.1.26 has absolute error <= 1.5e-7, i.e. relative error <= 3e-7 where |erf| >= 0.5.
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    big = 1.0 - poly * np.exp(-a * a)
    # Near zero the relative error matters: the Maclaurin series to x^17 is exact to ~1e-12 for |x| < 0.6.
    x2 = x64 * x64
    term = x64.copy()
    small = x64.copy()
    for n in range(1, 9):
        term = term * (-x2) / n
        small = small + term / (2 * n + 1)
    small *= 2.0 / np.sqrt(np.pi)
    out = np.where(a < 0.6, small, np.sign(x64) * big)
    return out.astype(x.dtype if np.asarray(x).dtype.kind == "f" else np.float32)


@simple("Erf")
def erf_kernel(x: Any) -> Any:
    """Gauss error function."""
    return erf(np.asarray(x))


@simple("Erfc")
def erfc_kernel(x: Any) -> Any:
    """1 - erf(x)."""
    x = np.asarray(x)
    return (1.0 - erf(x).astype(np.float64)).astype(x.dtype if x.dtype.kind == "f" else np.float32)


def as_update(fn: Callable[..., Any]) -> Kernel:
    """An in-place update run functionally; the result keeps the updated tensor's dtype."""

    def run(x: Any, *rest: Any) -> Any:
        x = np.asarray(x)
        return np.asarray(fn(x, *rest)).astype(x.dtype, copy=False)

    return run


#: MindSpore's in-place primitives. They are computed out of place; the compiler refuses a graph
#: that reads the updated tensor again after the update (it would need to see the new value).
INPLACE_UPDATES: dict[str, Callable[..., Any]] = {
    "InplaceAddExt": lambda x, y, alpha=1: x + (y if alpha == 1 else np.multiply(y, alpha)),
    "InplaceAddsExt": lambda x, y, alpha=1: x + (y if alpha == 1 else np.multiply(y, alpha)),
    "InplaceSubExt": lambda x, y, alpha=1: x - (y if alpha == 1 else np.multiply(y, alpha)),
    "InplaceSubScalar": lambda x, y, alpha=1: x - (y if alpha == 1 else np.multiply(y, alpha)),
    "InplaceMul": np.multiply,
    "InplaceMuls": np.multiply,
    "InplaceDiv": np.true_divide,
    "InplaceDivs": np.true_divide,
    "InplaceReLU": lambda x: np.maximum(x, 0),
}

for _name, _fn in INPLACE_UPDATES.items():
    simple(_name)(as_update(_fn))
