"""Op cases for the primitives real-world model libraries use (mindyolo, mindocr, mindnlp, mindaudio),
the three wrong results found on small unseen models, and special values (NaN, infinity).

Registered into ``make_op_cases.CASES`` by ``register(module)``; run through ``tools/make_op_cases.py``
like every other case. MindSpore's graph-mode parser needs real source for what it compiles, so every
function a cell calls is a plain module-level function here.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, mint, nn, ops
from mindspore.ops import Primitive

_tensor_move = Primitive("TensorMove")


# ---------------------------------------------------------------------------------------------
# Wrong results found on small unseen models
# ---------------------------------------------------------------------------------------------
def f_split_uneven_last(x):
    return ops.split(x, 3, axis=-1)


def f_mint_split_uneven_last(x):
    return mint.split(x, 3, dim=-1)


def f_chunk_uneven_last(x):
    return ops.chunk(x, 3, axis=-1)


def f_tensor_split_uneven_last(x):
    return ops.tensor_split(x, 3, axis=-1)


def f_split_sections_last(x):
    return ops.split(x, (2, 5, 1), axis=-1)


def f_bool_output(x):
    return x > 0.0


def f_isnan_output(x):
    return ops.isnan(x)


def f_bool_and_float_outputs(x):
    return ops.relu(x), ops.logical_not(x > 0.5)


class WhileMatMul(nn.Cell):
    """A while loop whose body multiplies by a weight (rank must be known through the loop)."""

    def __init__(self):
        super().__init__()
        self.w = Parameter(Tensor(np.zeros((6, 6), np.float32)), name="w")

    def construct(self, x, n):
        i = Tensor(0, ms.int32)
        while i < n:
            x = ops.tanh(ops.matmul(x, self.w))
            i = i + 1
        return x


class WhileDense(nn.Cell):
    """A while loop whose body calls nn.Dense (MatMul with transpose_b and BiasAdd)."""

    def __init__(self):
        super().__init__()
        self.d = nn.Dense(6, 6)

    def construct(self, x, n):
        i = Tensor(0, ms.int32)
        while i < n:
            x = ops.tanh(self.d(x)) + x
            i = i + 1
        return x


# ---------------------------------------------------------------------------------------------
# Scatter families
# ---------------------------------------------------------------------------------------------
def f_tensor_scatter_update(x, i, u):
    return ops.tensor_scatter_update(x, i, u)


def f_tensor_scatter_add(x, i, u):
    return ops.tensor_scatter_add(x, i, u)


def f_tensor_scatter_sub(x, i, u):
    return ops.tensor_scatter_sub(x, i, u)


def f_tensor_scatter_max(x, i, u):
    return ops.tensor_scatter_max(x, i, u)


def f_tensor_scatter_min(x, i, u):
    return ops.tensor_scatter_min(x, i, u)


def f_tensor_scatter_mul(x, i, u):
    return ops.tensor_scatter_mul(x, i, u)


def f_tensor_scatter_div(x, i, u):
    return ops.tensor_scatter_div(x, i, u)


def f_scatter_nd(i, u):
    return ops.scatter_nd(i, u, (4, 5, 3))


def f_tensor_scatter_elements(x, i, s):
    return ops.tensor_scatter_elements(x, i, s, 1, "none")


def f_tensor_scatter_elements_add(x, i, s):
    return ops.tensor_scatter_elements(x, i, s, 1, "add")


def f_mint_scatter(x, i, s):
    return mint.scatter(x, 1, i, s)


def f_mint_scatter_value(x, i):
    return mint.scatter(x, -1, i, 2.5)


def f_yolo_style_update(x, k):
    # mindyolo's heads write slices of a tensor with indices computed in the graph.
    i = ops.stack((k, k + 1), -1)
    u = ops.tanh(ops.gather_nd(x, i)) * 2.0
    return ops.tensor_scatter_update(x, i, u)


class ScatterOnParameter(nn.Cell):
    """A Parameter-updating scatter (ScatterNdUpdate/Add/..., ScatterUpdate/Add); its result is the new value."""

    def __init__(self, op, shape):
        super().__init__()
        self.op = op
        self.p = Parameter(Tensor(np.zeros(shape, np.float32)), name="p")

    def construct(self, i, u):
        return self.op(self.p, i, u) * 1.0


# ---------------------------------------------------------------------------------------------
# Dense (mindnlp's BERT/RoBERTa linear layers), TensorMove, GridSampler2D
# ---------------------------------------------------------------------------------------------
def f_dense(x, w, b):
    return ops.dense(x, w, b)


def f_tensor_move(x):
    return _tensor_move(x) * 2.0


def f_int_copy(x):
    return (x > 0).astype("int32").copy() + 1


# GRAPH_MODE needs module-level functions: one per grid sampler configuration.
def f_gs_bilinear_zeros_false(x, g):
    return ops.grid_sample(x, g, "bilinear", "zeros", False)


def f_gs_bilinear_zeros_true(x, g):
    return ops.grid_sample(x, g, "bilinear", "zeros", True)


def f_gs_bilinear_border_false(x, g):
    return ops.grid_sample(x, g, "bilinear", "border", False)


def f_gs_bilinear_border_true(x, g):
    return ops.grid_sample(x, g, "bilinear", "border", True)


def f_gs_bilinear_reflection_false(x, g):
    return ops.grid_sample(x, g, "bilinear", "reflection", False)


def f_gs_bilinear_reflection_true(x, g):
    return ops.grid_sample(x, g, "bilinear", "reflection", True)


def f_gs_nearest_zeros_false(x, g):
    return ops.grid_sample(x, g, "nearest", "zeros", False)


def f_gs_nearest_zeros_true(x, g):
    return ops.grid_sample(x, g, "nearest", "zeros", True)


def f_gs_nearest_border_false(x, g):
    return ops.grid_sample(x, g, "nearest", "border", False)


def f_gs_nearest_border_true(x, g):
    return ops.grid_sample(x, g, "nearest", "border", True)


def f_gs_nearest_reflection_false(x, g):
    return ops.grid_sample(x, g, "nearest", "reflection", False)


def f_gs_nearest_reflection_true(x, g):
    return ops.grid_sample(x, g, "nearest", "reflection", True)


# ---------------------------------------------------------------------------------------------
# Python-scalar arithmetic (*TensorScalar / *ScalarTensor and their tensor-tensor siblings)
# ---------------------------------------------------------------------------------------------
def f_mod_scalar(x):
    return x % 3


def f_rmod_scalar(x):
    return 7 % x


def f_mod_float_scalar(x):
    return x % 0.75


def f_remainder_tensor(x, y):
    return mint.remainder(x, y)


def f_inplace_mod(x):
    y = x * 5
    y %= 3
    return y


def f_fmod_scalar(x):
    return ops.fmod(x, 3)


def f_div_floor(x, y):
    return mint.div(x, y, rounding_mode="floor")


def f_div_trunc(x, y):
    return mint.div(x, y, rounding_mode="trunc")


def f_divs_trunc(x):
    return mint.div(x, 3, rounding_mode="trunc")


def f_divs_floor(x):
    return mint.div(x, 3, rounding_mode="floor")


def f_lerp_scalar(x, y):
    return ops.lerp(x, y, 0.3)


def f_lerp_tensor(x, y, w):
    return ops.lerp(x, y, w)


def f_bitwise_and_tensor(x, y):
    return mint.bitwise_and(x, y)


def f_scalar_compares(x):
    return x == 2, x < 2, mint.ge(x, 2), x != 2, x > 2, x <= 2


def f_mint_scalar_arith(x):
    return mint.add(x, 2), mint.sub(x, 2), mint.pow(x, 2), mint.pow(2, x), mint.sub(2, x)


# ---------------------------------------------------------------------------------------------
# Special values: NaN and infinity through the kernels whose NaN handling differs between libraries
# ---------------------------------------------------------------------------------------------
def f_special_relu(x):
    return ops.relu(x)


def f_special_maximum(x, y):
    return ops.maximum(x, y)


def f_special_minimum(x, y):
    return ops.minimum(x, y)


def f_special_softmax(x):
    return ops.softmax(x, -1)


def f_special_argmax(x):
    return ops.argmax(x, -1)


# The NaN-propagating answers (IEEE 754, numpy, onnxruntime, PyTorch), computed by MindSpore from its own
# kernels' outputs: MindSpore's ReLU, Maximum, Minimum and Softmax drop a NaN instead.
def ref_relu(x):
    return ops.where(ops.isnan(x), x, ops.relu(x))


def ref_maximum(x, y):
    return ops.where(ops.isnan(x), x, ops.where(ops.isnan(y), y, ops.maximum(x, y)))


def ref_minimum(x, y):
    return ops.where(ops.isnan(x), x, ops.where(ops.isnan(y), y, ops.minimum(x, y)))


def ref_softmax(x):
    # A row holding NaN or +inf (inf - inf) is NaN throughout; elsewhere MindSpore's softmax stands.
    bad = (ops.isnan(x) | (x == float("inf"))).any(-1, keep_dims=True)
    return ops.where(bad.broadcast_to(x.shape), ops.fill(x.dtype, x.shape, float("nan")), ops.softmax(x, -1))


NAN_PROPAGATES = (
    "NaN-propagating reference, computed by MindSpore with ops.where/ops.isnan around its own kernel: "
    "MindSpore's CPU kernel drops NaN here, mindinfer propagates it (README, 'NaN and infinity'); "
    "MindSpore's own outputs are in mindspore_output_N.npy"
)


def _special(rng, *shape):
    """Random values with NaN, +inf and -inf in known places (rows without any are left finite)."""
    a = rng.normal(size=shape).astype(np.float32)
    flat = a.reshape(-1)
    flat[1] = np.nan
    flat[5] = np.inf
    flat[9] = -np.inf
    return a


def _nonfinite_grid(rng):
    """A (1, 3, 4, 2) grid: ten points with -inf, +inf or NaN in x, y or both, two finite ones."""
    inf, nan = np.inf, np.nan
    special = [(-inf, 0.2), (inf, -0.3), (nan, 0.4), (0.1, -inf), (-0.6, inf), (0.5, nan),
               (-inf, -inf), (inf, -inf), (-inf, inf), (nan, -inf)]  # fmt: skip
    points = np.array(special + [tuple(p) for p in rng.uniform(-1.1, 1.1, size=(2, 2))], np.float32)
    return points.reshape(1, 3, 4, 2)


def _neg_inf_rows(rng):
    a = rng.normal(size=(3, 5)).astype(np.float32)
    a[0, 1] = a[1, 0] = a[1, 4] = -np.inf
    return a


def register(m) -> None:
    """Add the cases to ``make_op_cases`` (passed as ``m``: its ``case``, ``Fn``, ``Op``, ``R`` ...)."""
    case, Fn, R = m.case, m.Fn, m.R

    # --- the three wrong results -------------------------------------------------------------
    m.unary("split_uneven_last", f_split_uneven_last, "ops.split(x, 3, axis=-1) on 8: pieces 3,3,2", shape=(2, 3, 8))
    m.unary("mint_split_uneven_last", f_mint_split_uneven_last, "mint.split(x, 3, dim=-1) on 8", shape=(2, 3, 8))
    m.unary("chunk_uneven_last", f_chunk_uneven_last, "ops.chunk(x, 3, axis=-1) on 8", shape=(2, 3, 8))
    m.unary(
        "tensor_split_uneven_last", f_tensor_split_uneven_last, "ops.tensor_split(x, 3, axis=-1) on 8", shape=(2, 3, 8)
    )
    m.unary("split_sections_last", f_split_sections_last, "ops.split(x, (2,5,1), axis=-1)", shape=(2, 8))
    m.unary("bool_graph_output", f_bool_output, "the graph's only output is a bool tensor (x > 0)")
    case("bool_output_isnan", "the graph's output is ops.isnan(x) (bool from a float input)")(
        lambda rng: (Fn(f_isnan_output), [_special(rng, 3, 4)])
    )
    m.unary("bool_and_float_outputs", f_bool_and_float_outputs, "outputs: ReLU (float) and logical_not (bool)")

    @case("cf_while_matmul", "while i < n with ops.matmul by a weight in the body (n=3)")
    def _(rng):
        return WhileMatMul(), [R(rng, 2, 6), np.array(3, np.int32)]

    @case("cf_while_dense", "while i < n with nn.Dense in the body (n=2)")
    def _(rng):
        return WhileDense(), [R(rng, 3, 6) * 0.5, np.array(2, np.int32)]

    # --- scatter ----------------------------------------------------------------------------
    def nd_inputs(rng, unique: bool, positive: bool = False):
        x = R(rng, 4, 5, 3)
        if unique:
            idx = np.array([[0, 1], [3, 4], [2, 0], [1, 3]], np.int32)
        else:  # repeated rows: the reduction must see every update
            idx = np.array([[0, 1], [3, 4], [0, 1], [1, 3], [0, 1]], np.int32)
        u = R(rng, len(idx), 3)
        if positive:
            u = np.abs(u) + 0.5
        return [x, idx, u]

    for name, fn, unique, pos in [
        ("tensor_scatter_update", f_tensor_scatter_update, True, False),
        ("tensor_scatter_add", f_tensor_scatter_add, False, False),
        ("tensor_scatter_sub", f_tensor_scatter_sub, False, False),
        ("tensor_scatter_max", f_tensor_scatter_max, False, False),
        ("tensor_scatter_min", f_tensor_scatter_min, False, False),
        ("tensor_scatter_mul", f_tensor_scatter_mul, False, False),
        ("tensor_scatter_div", f_tensor_scatter_div, False, True),
    ]:
        case(name, f"ops.{name}: (2,)-index rows into (4,5,3), slice updates" + ("" if unique else ", repeated rows"))(
            lambda rng, fn=fn, unique=unique, pos=pos: (Fn(fn), nd_inputs(rng, unique, pos))
        )

    @case(
        "tensor_scatter_update_full_index", "ops.tensor_scatter_update with full (3,)-indices, int64, element updates"
    )
    def _(rng):
        x = R(rng, 4, 5, 3)
        idx = np.array([[0, 1, 2], [3, 4, 0], [1, 1, 1]], np.int64)
        return Fn(f_tensor_scatter_update), [x, idx, R(rng, 3)]

    @case("tensor_scatter_add_int32", "ops.tensor_scatter_add on int32 data, repeated rows")
    def _(rng):
        x = rng.integers(-5, 5, size=(6, 2)).astype(np.int32)
        idx = np.array([[1], [4], [1]], np.int32)
        return Fn(f_tensor_scatter_add), [x, idx, rng.integers(-3, 3, size=(3, 2)).astype(np.int32)]

    @case("scatter_nd", "ops.scatter_nd into zeros (4,5,3) with repeated index rows (summed)")
    def _(rng):
        idx = np.array([[0, 1], [3, 4], [0, 1], [2, 2]], np.int32)
        return Fn(f_scatter_nd), [idx, R(rng, 4, 3)]

    @case("yolo_style_scatter_update", "TensorScatterUpdate with indices built in the graph (Stack) from an input")
    def _(rng):
        return Fn(f_yolo_style_update), [R(rng, 5, 6), np.array([0, 2, 3], np.int32)]

    @case("tensor_scatter_elements", "ops.tensor_scatter_elements axis=1 reduction='none'")
    def _(rng):
        idx = np.array([[0, 4], [2, 3], [1, 0], [3, 1]], np.int64)
        return Fn(f_tensor_scatter_elements), [R(rng, 4, 5), idx, R(rng, 4, 2)]

    @case("tensor_scatter_elements_add", "ops.tensor_scatter_elements axis=1 reduction='add', repeated index")
    def _(rng):
        idx = np.array([[0, 0], [2, 3], [1, 1], [3, 3]], np.int64)
        return Fn(f_tensor_scatter_elements_add), [R(rng, 4, 5), idx, R(rng, 4, 2)]

    @case("mint_scatter", "mint.scatter(x, 1, index, src) (Scatter)")
    def _(rng):
        idx = np.array([[0, 4], [2, 3], [1, 0], [3, 1]], np.int64)
        return Fn(f_mint_scatter), [R(rng, 4, 5), idx, R(rng, 4, 2)]

    @case("mint_scatter_value", "mint.scatter(x, -1, index, 2.5) (ScatterValue)")
    def _(rng):
        idx = np.array([[0, 4], [2, 3], [1, 0], [3, 1]], np.int64)
        return Fn(f_mint_scatter_value), [R(rng, 4, 5), idx]

    nd_param_ops = ["ScatterNdUpdate", "ScatterNdAdd", "ScatterNdSub", "ScatterNdMul", "ScatterNdDiv", "ScatterNdMax"]
    for opname in nd_param_ops + ["ScatterNdMin"]:

        def build(rng, opname=opname):
            idx = np.array([[0, 1], [3, 2], [1, 4]], np.int32)
            u = np.abs(R(rng, 3)) + 0.5 if opname == "ScatterNdDiv" else R(rng, 3)
            return ScatterOnParameter(getattr(ops, opname)(), (4, 5)), [idx, u]

        case(f"param_{opname.lower()}", f"ops.{opname} on a Parameter (4,5); the graph returns its new value")(build)

    for opname in ("ScatterUpdate", "ScatterAdd", "ScatterSub", "ScatterMax", "ScatterMin", "ScatterMul", "ScatterDiv"):

        def build(rng, opname=opname):
            idx = np.array([2, 0], np.int32) if opname == "ScatterUpdate" else np.array([2, 0, 2], np.int32)
            u = R(rng, len(idx), 5)
            if opname == "ScatterDiv":
                u = np.abs(u) + 0.5
            return ScatterOnParameter(getattr(ops, opname)(), (4, 5)), [idx, u]

        case(f"param_{opname.lower()}", f"ops.{opname} on a Parameter (4,5) by rows; returns the new value")(build)

    # --- Dense, TensorMove, GridSampler2D -----------------------------------------------------
    case("dense_primitive", "ops.dense(x, w, b) on (2, 5, 8) with weight (6, 8) (Dense, as mindnlp's linears)")(
        lambda rng: (Fn(f_dense), [R(rng, 2, 5, 8), R(rng, 6, 8), R(rng, 6)])
    )
    m.unary("tensor_move", f_tensor_move, "Primitive('TensorMove') (a copy), then Muls")

    @case("tensor_move_int_copy", "Tensor.copy() of an int32 tensor (TensorMove)")
    def _(rng):
        return Fn(f_int_copy), [R(rng, 3, 4)]

    for mode in ("bilinear", "nearest"):
        for padding in ("zeros", "border", "reflection"):
            for align in (False, True):
                fn = globals()[f"f_gs_{mode}_{padding}_{str(align).lower()}"]

                def build(rng, fn=fn):
                    # The grid reaches past [-1, 1] so that every padding mode is exercised.
                    return Fn(fn), [R(rng, 2, 3, 5, 6), R(rng, 2, 4, 7, 2, lo=-1.3, hi=1.3)]

                case(
                    f"grid_sample_{mode}_{padding}_{'align' if align else 'noalign'}",
                    f"ops.grid_sample mode={mode} padding_mode={padding} align_corners={align}, grid in [-1.3, 1.3]",
                )(build)

    # --- Python-scalar arithmetic -------------------------------------------------------------
    def ints(rng, *shape):
        a = rng.integers(-9, 10, size=shape).astype(np.int32)
        return a

    def nonzero_ints(rng, *shape):
        a = ints(rng, *shape)
        a[a == 0] = 3
        return a

    case("mod_scalar_int", "int32 x % 3 with negatives (RemainderTensorScalar)")(
        lambda rng: (Fn(f_mod_scalar), [ints(rng, 3, 5)])
    )
    case("mod_scalar_float", "float32 x % 3 with negatives (RemainderTensorScalar)")(
        lambda rng: (Fn(f_mod_scalar), [R(rng, 3, 5) * 4])
    )
    case("mod_float_scalar", "float32 x % 0.75 (RemainderTensorScalar, float scalar)")(
        lambda rng: (Fn(f_mod_float_scalar), [R(rng, 3, 5) * 4])
    )
    case("rmod_scalar_int", "int32 7 % x, x nonzero with negatives (RemainderScalarTensor)")(
        lambda rng: (Fn(f_rmod_scalar), [nonzero_ints(rng, 3, 5)])
    )
    case("rmod_scalar_float", "float32 7 % x (RemainderScalarTensor)")(
        lambda rng: (Fn(f_rmod_scalar), [R(rng, 3, 5) * 4])
    )
    case("remainder_tensor_tensor", "mint.remainder(x, y) float32, signs mixed (RemainderTensorTensor)")(
        lambda rng: (Fn(f_remainder_tensor), [R(rng, 3, 5) * 4, R(rng, 5) * 2])
    )
    case("remainder_tensor_tensor_int", "mint.remainder(x, y) int32, signs mixed (RemainderTensorTensor)")(
        lambda rng: (Fn(f_remainder_tensor), [ints(rng, 3, 5), nonzero_ints(rng, 3, 5)])
    )
    case("inplace_mod_scalar", "`y %= 3` on an int32 intermediate (InplaceRemainderTensorScalar)")(
        lambda rng: (Fn(f_inplace_mod), [ints(rng, 3, 5)])
    )
    case("fmod_scalar", "ops.fmod(x, 3) float32 (DivMod trunc + Muls + Sub)")(
        lambda rng: (Fn(f_fmod_scalar), [R(rng, 3, 5) * 5])
    )
    case("div_floor_tensor", "mint.div(x, y, rounding_mode='floor') float32 (DivMod)")(
        lambda rng: (Fn(f_div_floor), [R(rng, 3, 5) * 5, R(rng, 5) * 2])
    )
    case("div_trunc_tensor_int", "mint.div(x, y, rounding_mode='trunc') int32 (DivMod)")(
        lambda rng: (Fn(f_div_trunc), [ints(rng, 3, 5), nonzero_ints(rng, 3, 5)])
    )
    case("divs_trunc_int", "mint.div(x, 3, rounding_mode='trunc') int32 with negatives (DivMods)")(
        lambda rng: (Fn(f_divs_trunc), [ints(rng, 3, 5)])
    )
    case("divs_floor_float", "mint.div(x, 3, rounding_mode='floor') float32 (DivMods)")(
        lambda rng: (Fn(f_divs_floor), [R(rng, 3, 5) * 5])
    )
    case("lerp_scalar_weight", "ops.lerp(x, y, 0.3) (Lerp)")(
        lambda rng: (Fn(f_lerp_scalar), [R(rng, 3, 5), R(rng, 3, 5)])
    )
    case("lerp_tensor_weight", "ops.lerp(x, y, w) with a broadcast weight tensor (Lerp)")(
        lambda rng: (Fn(f_lerp_tensor), [R(rng, 3, 5), R(rng, 3, 5), R(rng, 5, lo=0.0, hi=1.0)])
    )
    # BitwiseOrTensor / BitwiseXorTensor have no MindSpore CPU kernel, so no case can be made for them.
    case("bitwise_and_tensor", "mint.bitwise_and(x, y) int32 with negatives (BitwiseAndTensor)")(
        lambda rng: (Fn(f_bitwise_and_tensor), [ints(rng, 3, 5), ints(rng, 5)])
    )
    case("scalar_compares_int", "int32 ==, <, mint.ge, !=, >, <= against the Python int 2 (EqScalar, LessScalar, ...)")(
        lambda rng: (Fn(f_scalar_compares), [ints(rng, 3, 5) // 3])
    )
    case("mint_scalar_arith", "mint.add/sub/pow with Python scalars (AddScalar, SubScalar, Pow*Scalar*)")(
        lambda rng: (Fn(f_mint_scalar_arith), [R(rng, 3, 5, lo=0.5, hi=2.0)])
    )

    # --- special values
    case("special_relu", "ReLU on NaN, +inf, -inf", expected=NAN_PROPAGATES)(
        lambda rng: (Fn(f_special_relu), [_special(rng, 3, 4)], None, Fn(ref_relu))
    )
    case("special_maximum", "Maximum with NaN, inf in either operand", expected=NAN_PROPAGATES)(
        lambda rng: (
            Fn(f_special_maximum),
            [_special(rng, 3, 4), _special(rng, 3, 4)[::-1].copy()],
            None,
            Fn(ref_maximum),
        )
    )
    case("special_minimum", "Minimum with NaN, inf in either operand", expected=NAN_PROPAGATES)(
        lambda rng: (
            Fn(f_special_minimum),
            [_special(rng, 3, 4), _special(rng, 3, 4)[::-1].copy()],
            None,
            Fn(ref_minimum),
        )
    )
    case("special_softmax", "Softmax over rows holding NaN, +inf, -inf (and finite rows)", expected=NAN_PROPAGATES)(
        lambda rng: (Fn(f_special_softmax), [_special(rng, 4, 4)], None, Fn(ref_softmax))
    )
    for mode, padding in (("bilinear", "zeros"), ("nearest", "zeros"), ("bilinear", "border")):
        fn = globals()[f"f_gs_{mode}_{padding}_false"]

        def build(rng, fn=fn):
            grid = R(rng, 1, 3, 4, 2, lo=-1.1, hi=1.1)
            grid[0, 0, 1, 0] = np.nan
            grid[0, 1, 2, 1] = np.nan
            grid[0, 2, 3, :] = np.inf
            return Fn(fn), [R(rng, 1, 2, 4, 5), grid]

        case(f"special_grid_sample_{mode}_{padding}", f"ops.grid_sample {mode}/{padding} with NaN and inf in the grid")(
            build
        )
    # Each coordinate alone, then both, at -inf, +inf and NaN: MindSpore's clipping sends -inf to the near
    # edge and +inf and NaN to the far one under border padding, every one to the far edge under reflection.
    for mode, padding, align in (
        ("bilinear", "zeros", False),
        ("bilinear", "border", False),
        ("bilinear", "border", True),
        ("bilinear", "reflection", False),
        ("nearest", "zeros", False),
        ("nearest", "border", False),
        ("nearest", "reflection", False),
    ):
        fn = globals()[f"f_gs_{mode}_{padding}_{str(align).lower()}"]
        case(
            f"special_grid_sample_infs_{mode}_{padding}{'_align' if align else ''}",
            f"ops.grid_sample {mode}/{padding} align_corners={align} with -inf, +inf and NaN in either grid coordinate",
        )(lambda rng, fn=fn: (Fn(fn), [R(rng, 1, 2, 4, 5), _nonfinite_grid(rng)]))
    case("special_softmax_neginf", "Softmax over rows holding -inf (masked attention): MindSpore's output")(
        lambda rng: (Fn(f_special_softmax), [_neg_inf_rows(rng)])
    )
    # MindSpore, onnxruntime and mindinfer all skip NaN here: MindSpore's output is the answer.
    case("special_argmax", "Argmax over rows holding NaN, +inf, -inf (NaN skipped)")(
        lambda rng: (Fn(f_special_argmax), [_special(rng, 4, 4)])
    )
    case("special_maxpool", "nn.MaxPool2d 2x2 over windows holding NaN, +inf, -inf (NaN skipped)")(
        lambda rng: (m.Op(nn.MaxPool2d(2, 2)), [_special(rng, 1, 2, 4, 4)])
    )
