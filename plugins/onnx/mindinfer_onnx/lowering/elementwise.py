"""Elementwise primitives: arithmetic, comparisons, logic and activations."""

from __future__ import annotations

import math

import numpy as np
from mindinfer.ir import Node

from .._graph import GraphBuilder, onnx_dtype
from ._base import arg, const_arg, dtype_of, lowers, out, out_dtype, shape_of, x, xs

# MindSpore primitive -> ONNX op with the same semantics on the same inputs.
_UNARY = {
    "ReLU": "Relu",
    "Sigmoid": "Sigmoid",
    "Tanh": "Tanh",
    "Exp": "Exp",
    "Log": "Log",
    "Sqrt": "Sqrt",
    "Reciprocal": "Reciprocal",
    "Abs": "Abs",
    "Neg": "Neg",
    "Floor": "Floor",
    "Ceil": "Ceil",
    "Sin": "Sin",
    "Cos": "Cos",
    "Erf": "Erf",
    "Sign": "Sign",
    "Softplus": "Softplus",
    "LogicalNot": "Not",
    "Identity": "Identity",
    "Tan": "Tan",
    "Sinh": "Sinh",
    "Cosh": "Cosh",
    "Asin": "Asin",
    "Acos": "Acos",
    "Atan": "Atan",
    "Asinh": "Asinh",
    "Acosh": "Acosh",
    "Atanh": "Atanh",
    "Inv": "Reciprocal",
    "IsNan": "IsNaN",
    "SeLU": "Selu",
    "SeLUExt": "Selu",
    "Softsign": "Softsign",
    "Contiguous": "Identity",
    "StopGradient": "Identity",
    # Ascend storage-format conversion: the values are unchanged.
    "FormatCast": "Identity",
    # In-place updates are computed out of place, like the cpu plugin does.
    "InplaceReLU": "Relu",
}
_BINARY = {
    "Add": "Add",
    "Sub": "Sub",
    "Mul": "Mul",
    "Muls": "Mul",
    "Div": "Div",
    "Divs": "Div",
    "RealDiv": "Div",
    "Maximum": "Max",
    "Minimum": "Min",
    "Pow": "Pow",
    "PowScalarTensor": "Pow",
    "PowTensorScalar": "Pow",
    "InplaceMul": "Mul",
    "InplaceMuls": "Mul",
    "InplaceDiv": "Div",
    "InplaceDivs": "Div",
}
_COMPARE = {
    "Equal": "Equal",
    "Greater": "Greater",
    "GreaterEqual": "GreaterOrEqual",
    "Less": "Less",
    "LessEqual": "LessOrEqual",
}
_LOGIC = {"LogicalAnd": "And", "LogicalOr": "Or", "LogicalXor": "Xor"}


def _typed(b: GraphBuilder, node: Node, i: int) -> str:
    """Input ``i`` in the node's output dtype (MindSpore promotes mixed operands to it)."""
    return x(b, node, i, out_dtype(node))


#: Unary ops whose bool output says something about a numeric input: the input keeps its own dtype
#: (casting it to the output's bool first would hand IsNaN a bool tensor, an invalid model).
_PREDICATES = {"IsNan"}


@lowers(*_UNARY)
def unary(b: GraphBuilder, node: Node) -> None:
    """The ONNX op of the same name and meaning."""
    operand = x(b, node, 0) if node.op in _PREDICATES else _typed(b, node, 0)
    out(b, node, b.op1(_UNARY[node.op], [operand]))


@lowers(*_BINARY)
def binary(b: GraphBuilder, node: Node) -> None:
    """Broadcasting arithmetic; both operands in the output dtype."""
    out(b, node, b.op1(_BINARY[node.op], [_typed(b, node, 0), _typed(b, node, 1)]))


_ADD_ALPHA = ("AddExt", "InplaceAddExt", "InplaceAddsExt", "AddScalar", "Adds")
_SUB_ALPHA = ("SubExt", "InplaceSubExt", "InplaceSubScalar", "SubScalar", "Subs")


@lowers(*_ADD_ALPHA, *_SUB_ALPHA)
def add_alpha(b: GraphBuilder, node: Node) -> None:
    """input +/- alpha * other."""
    # Adds/Subs (older primitive names) take no alpha.
    alpha = const_arg(b, node, "alpha") if node.op not in ("Adds", "Subs") else 1
    other = _typed(b, node, 1)
    if alpha != 1:
        other = b.op1("Mul", [other, b.const(alpha, out_dtype(node))])
    op = "Sub" if node.op in _SUB_ALPHA else "Add"
    out(b, node, b.op1(op, [_typed(b, node, 0), other]))


@lowers("AddN")
def add_n(b: GraphBuilder, node: Node) -> None:
    """Sum of the tuple's tensors."""
    out(b, node, b.op1("Sum", xs(b, node, 0)))


@lowers(*_COMPARE)
def compare(b: GraphBuilder, node: Node) -> None:
    """Broadcasting comparison -> bool; operands promoted to a common dtype first."""
    dt = _common_dtype(b, node)
    out(b, node, b.op1(_COMPARE[node.op], [x(b, node, 0, dt), x(b, node, 1, dt)]))


@lowers("NotEqual")
def not_equal(b: GraphBuilder, node: Node) -> None:
    """not (a == b)."""
    dt = _common_dtype(b, node)
    out(b, node, b.op1("Not", [b.op1("Equal", [x(b, node, 0, dt), x(b, node, 1, dt)])]))


def _common_dtype(b: GraphBuilder, node: Node) -> np.dtype | None:
    d0, d1 = dtype_of(b, node, 0), dtype_of(b, node, 1)
    if d0 is None or d1 is None:
        return d0 or d1
    return np.result_type(d0, d1)


@lowers(*_LOGIC)
def logic(b: GraphBuilder, node: Node) -> None:
    """Boolean logic."""
    out(b, node, b.op1(_LOGIC[node.op], [x(b, node, 0, "bool"), x(b, node, 1, "bool")]))


@lowers("Select")
def select(b: GraphBuilder, node: Node) -> None:
    """condition ? input : other."""
    out(b, node, b.op1("Where", [x(b, node, 0, "bool"), _typed(b, node, 1), _typed(b, node, 2)]))


@lowers("Atan2")
def atan2(b: GraphBuilder, node: Node) -> None:
    """atan2(input, other): the angle of (other, input), in (-pi, pi] like numpy.

    ONNX has no Atan2: atan(input / other), moved by +-pi where other < 0, and +-pi/2 (0 for 0/0)
    where other == 0, whose quotient is inf or nan.
    """
    dt = out_dtype(node) or np.dtype("float32")
    y, xv = _typed(b, node, 0), _typed(b, node, 1)
    zero = b.const(0, dt)
    base = b.op1("Atan", [b.op1("Div", [y, xv])])
    pi = b.op1("Where", [b.op1("GreaterOrEqual", [y, zero]), b.const(math.pi, dt), b.const(-math.pi, dt)])
    shifted = b.op1("Where", [b.op1("Less", [xv, zero]), b.op1("Add", [base, pi]), base])
    axis = b.op1("Mul", [b.op1("Sign", [y]), b.const(math.pi / 2, dt)])
    out(b, node, b.op1("Where", [b.op1("Equal", [xv, zero]), axis, shifted]))


@lowers("Square")
def square(b: GraphBuilder, node: Node) -> None:
    """x * x."""
    v = _typed(b, node, 0)
    out(b, node, b.op1("Mul", [v, v]))


@lowers("SquaredDifference")
def squared_difference(b: GraphBuilder, node: Node) -> None:
    """(a - b)^2."""
    d = b.op1("Sub", [_typed(b, node, 0), _typed(b, node, 1)])
    out(b, node, b.op1("Mul", [d, d]))


@lowers("Rsqrt")
def rsqrt(b: GraphBuilder, node: Node) -> None:
    """1 / sqrt(x)."""
    out(b, node, b.op1("Reciprocal", [b.op1("Sqrt", [_typed(b, node, 0)])]))


@lowers("FloorDiv", "FloorDivScalar")
def floor_div(b: GraphBuilder, node: Node) -> None:
    """floor(a / b); integer division rounds toward minus infinity like Python."""
    dt = out_dtype(node)
    a, c = _typed(b, node, 0), _typed(b, node, 1)
    if dt is not None and dt.kind in "iu":
        # ONNX Div truncates integers; compute in float64 then floor (exact for |v| < 2**53).
        q = b.op1("Div", [b.cast(a, "float64"), b.cast(c, "float64")])
        out(b, node, b.cast(b.op1("Floor", [q]), dt))
        return
    out(b, node, b.op1("Floor", [b.op1("Div", [a, c])]))


@lowers("FloorMod", "Mod")
def floor_mod(b: GraphBuilder, node: Node) -> None:
    """a - floor(a / b) * b (result has the sign of b)."""
    dt = out_dtype(node)
    a, c = _typed(b, node, 0), _typed(b, node, 1)
    if dt is not None and dt.kind in "iu":
        out(b, node, b.op1("Mod", [a, c], fmod=0))
        return
    q = b.op1("Floor", [b.op1("Div", [a, c])])
    out(b, node, b.op1("Sub", [a, b.op1("Mul", [q, c])]))


@lowers("ReLU6")
def relu6(b: GraphBuilder, node: Node) -> None:
    """min(max(x, 0), 6)."""
    dt = out_dtype(node) or np.dtype("float32")
    out(b, node, b.op1("Clip", [_typed(b, node, 0), b.const(0, dt), b.const(6, dt)]))


@lowers("HSigmoid")
def hsigmoid(b: GraphBuilder, node: Node) -> None:
    """relu6(x + 3) / 6."""
    out(b, node, b.op1("HardSigmoid", [_typed(b, node, 0)], alpha=1.0 / 6.0, beta=0.5))


@lowers("HSwish")
def hswish(b: GraphBuilder, node: Node) -> None:
    """x * relu6(x + 3) / 6: ONNX HardSwish from opset 14, spelled out before it."""
    v = _typed(b, node, 0)
    if b.opset >= 14:
        out(b, node, b.op1("HardSwish", [v]))
    else:
        out(b, node, b.op1("Mul", [v, b.op1("HardSigmoid", [v], alpha=1.0 / 6.0, beta=0.5)]))


@lowers("SiLU")
def silu(b: GraphBuilder, node: Node) -> None:
    """x * sigmoid(x)."""
    v = _typed(b, node, 0)
    out(b, node, b.op1("Mul", [v, b.op1("Sigmoid", [v])]))


@lowers("Mish", "MishExt")
def mish(b: GraphBuilder, node: Node) -> None:
    """x * tanh(softplus(x))."""
    v = _typed(b, node, 0)
    if b.opset >= 18:
        out(b, node, b.op1("Mish", [v]))
        return
    out(b, node, b.op1("Mul", [v, b.op1("Tanh", [b.op1("Softplus", [v])])]))


@lowers("GeLU", "FastGeLU")
def gelu(b: GraphBuilder, node: Node) -> None:
    """MindSpore's GeLU primitive is the tanh approximation; FastGeLU is x * sigmoid(1.702 x)."""
    v = _typed(b, node, 0)
    dt = out_dtype(node) or np.dtype("float32")
    if node.op == "FastGeLU":
        # FastGeLU(x) = x / (1 + exp(-1.702|x|)) * exp(0.851 (x - |x|)), i.e. x * sigmoid(1.702 x).
        s = b.op1("Sigmoid", [b.op1("Mul", [v, b.const(1.702, dt)])])
        out(b, node, b.op1("Mul", [v, s]))
        return
    if b.opset >= 20:
        out(b, node, b.op1("Gelu", [v], approximate="tanh"))
        return
    cube = b.op1("Mul", [b.op1("Mul", [v, v]), v])
    inner = b.op1("Add", [v, b.op1("Mul", [cube, b.const(0.044715, dt)])])
    t = b.op1("Tanh", [b.op1("Mul", [inner, b.const(math.sqrt(2.0 / math.pi), dt)])])
    half = b.op1("Mul", [v, b.const(0.5, dt)])
    out(b, node, b.op1("Mul", [half, b.op1("Add", [t, b.const(1.0, dt)])]))


@lowers("Elu")
def elu(b: GraphBuilder, node: Node) -> None:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    alpha = const_arg(b, node, "alpha")
    out(b, node, b.op1("Elu", [_typed(b, node, 0)], alpha=float(alpha)))


@lowers("LeakyReLU", "LeakyReLUExt")
def leaky_relu(b: GraphBuilder, node: Node) -> None:
    """x if x >= 0 else negative_slope * x."""
    slope = const_arg(b, node, "alpha", "negative_slope")
    out(b, node, b.op1("LeakyRelu", [_typed(b, node, 0)], alpha=float(slope)))


@lowers("PReLU")
def prelu(b: GraphBuilder, node: Node) -> None:
    """x if x >= 0 else w * x, w per channel (axis 1)."""
    xin, w = _typed(b, node, 0), _typed(b, node, 1)
    shape, wshape = shape_of(b, node, 0), shape_of(b, node, 1)
    if shape is not None and wshape is not None and len(wshape) == 1 and len(shape) > 2:
        # ONNX PReLU broadcasts slope from the right; MindSpore's applies to the channel axis.
        w = b.unsqueeze(w, list(range(1, len(shape) - 1)))
    out(b, node, b.op1("PRelu", [xin, w]))


@lowers("ClampScalar", "ClampTensor")
def clamp(b: GraphBuilder, node: Node) -> None:
    """min(max(x, lo), hi) with either bound optional."""
    v = first = _typed(b, node, 0)
    for index, attr, op in ((1, "min", "Max"), (2, "max", "Min")):
        if arg(node, attr) is not None:
            v = b.op1(op, [v, x(b, node, index, out_dtype(node))])
    out(b, node, b.op1("Identity", [v]) if v == first else v)


@lowers("Round")
def round_(b: GraphBuilder, node: Node) -> None:
    """Round half to even (MindSpore and ONNX agree); decimals must be 0."""
    decimals = const_arg(b, node, "decimals")
    if decimals not in (0, None):
        raise b.unsupported(f"Round with decimals={decimals} is not supported")
    out(b, node, b.op1("Round", [_typed(b, node, 0)]))


@lowers("Cast")
def cast(b: GraphBuilder, node: Node) -> None:
    """Convert to the output dtype."""
    dt = out_dtype(node)
    if dt is None:
        raise b.unsupported("the target dtype of Cast is not recorded in the file")
    out(b, node, b.op1("Cast", [x(b, node, 0)], to=onnx_dtype(dt)))


@lowers("ZerosLike", "OnesLike", "ZerosLikeExt", "OnesLikeExt")
def fill_like(b: GraphBuilder, node: Node) -> None:
    """A tensor of x's shape filled with 0 or 1."""
    dt = out_dtype(node) or dtype_of(b, node, 0) or np.dtype("float32")
    fill = b.const(1 if node.op.startswith("Ones") else 0, dt)
    shape = b.op1("Shape", [x(b, node, 0)])
    out(b, node, b.op1("Expand", [fill, shape]))


@lowers("Trunc")
def trunc(b: GraphBuilder, node: Node) -> None:
    """Round toward zero: sign(x) * floor(|x|)."""
    v = _typed(b, node, 0)
    out(b, node, b.op1("Mul", [b.op1("Sign", [v]), b.op1("Floor", [b.op1("Abs", [v])])]))


@lowers("Erfc")
def erfc(b: GraphBuilder, node: Node) -> None:
    """1 - erf(x)."""
    dt = out_dtype(node) or np.dtype("float32")
    out(b, node, b.op1("Sub", [b.const(1, dt), b.op1("Erf", [_typed(b, node, 0)])]))


@lowers("Expm1")
def expm1(b: GraphBuilder, node: Node) -> None:
    """exp(x) - 1."""
    dt = out_dtype(node) or np.dtype("float32")
    out(b, node, b.op1("Sub", [b.op1("Exp", [_typed(b, node, 0)]), b.const(1, dt)]))


@lowers("Log1p")
def log1p(b: GraphBuilder, node: Node) -> None:
    """log(1 + x)."""
    dt = out_dtype(node) or np.dtype("float32")
    out(b, node, b.op1("Log", [b.op1("Add", [_typed(b, node, 0), b.const(1, dt)])]))


@lowers("IsInf")
def is_inf(b: GraphBuilder, node: Node) -> None:
    """x is +-inf."""
    out(b, node, b.op1("IsInf", [x(b, node, 0)]))


@lowers("IsFinite")
def is_finite(b: GraphBuilder, node: Node) -> None:
    """Neither inf nor nan."""
    v = x(b, node, 0)
    bad = b.op1("Or", [b.op1("IsInf", [v]), b.op1("IsNaN", [v])])
    out(b, node, b.op1("Not", [bad]))


@lowers("DivNoNan")
def div_no_nan(b: GraphBuilder, node: Node) -> None:
    """a / b, 0 where b == 0."""
    dt = out_dtype(node) or np.dtype("float32")
    a, c = _typed(b, node, 0), _typed(b, node, 1)
    zero = b.const(0, dt)
    is_zero = b.op1("Equal", [c, zero])
    safe = b.op1("Where", [is_zero, b.const(1, dt), c])
    out(b, node, b.op1("Where", [is_zero, zero, b.op1("Div", [a, safe])]))


@lowers("GeluExt")
def gelu_ext(b: GraphBuilder, node: Node) -> None:
    """mint gelu: exact (erf) or the tanh approximation (approximate = 1)."""
    approximate = const_arg(b, node, "approximate")
    if approximate in (1, "tanh"):
        gelu(b, node)
        return
    v = _typed(b, node, 0)
    dt = out_dtype(node) or np.dtype("float32")
    e = b.op1("Erf", [b.op1("Mul", [v, b.const(1 / math.sqrt(2.0), dt)])])
    out(b, node, b.op1("Mul", [b.op1("Mul", [v, b.const(0.5, dt)]), b.op1("Add", [e, b.const(1, dt)])]))


@lowers("SoftplusExt")
def softplus_ext(b: GraphBuilder, node: Node) -> None:
    """log(1 + exp(beta x)) / beta, x where beta x > threshold."""
    beta = float(const_arg(b, node, "beta"))
    threshold = float(const_arg(b, node, "threshold"))
    v = _typed(b, node, 0)
    dt = out_dtype(node) or np.dtype("float32")
    bx = b.op1("Mul", [v, b.const(beta, dt)])
    soft = b.op1("Div", [b.op1("Softplus", [bx]), b.const(beta, dt)])
    out(b, node, b.op1("Where", [b.op1("Greater", [bx, b.const(threshold, dt)]), v, soft]))


@lowers("HShrink", "HardShrink")
def hard_shrink(b: GraphBuilder, node: Node) -> None:
    """x where |x| > lambd, else 0."""
    lambd = float(const_arg(b, node, "lambd"))
    out(b, node, b.op1("Shrink", [_typed(b, node, 0)], lambd=lambd, bias=0.0))


@lowers("MaskedFill", "MaskedFillScalar")
def masked_fill(b: GraphBuilder, node: Node) -> None:
    """value where mask, else x."""
    dt = dtype_of(b, node, 0)
    out(b, node, b.op1("Where", [x(b, node, 1, "bool"), x(b, node, 2, dt), x(b, node, 0)]))


_BITWISE = {"BitwiseAnd": "And", "BitwiseOr": "Or", "BitwiseXor": "Xor", "bit_and": "And", "bit_or": "Or"}


@lowers(*_BITWISE)
def bitwise(b: GraphBuilder, node: Node) -> None:
    """Bitwise and/or/xor (logical on bool)."""
    dt = out_dtype(node) or dtype_of(b, node, 0)
    op = _BITWISE[node.op]
    if dt is not None and dt.kind == "b":
        out(b, node, b.op1(op, [x(b, node, 0, "bool"), x(b, node, 1, "bool")]))
    elif b.opset >= 18:
        out(b, node, b.op1("Bitwise" + op, [_typed(b, node, 0), _typed(b, node, 1)]))
    else:
        raise b.unsupported("bitwise operations on integers need ONNX opset >= 18 (use --opset 18)")
