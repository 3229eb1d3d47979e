"""Make op-level conformance cases with real MindSpore (a data-making tool, not a project dependency).

Run with a virtual environment that has MindSpore 2.10.0 (CPU):

    /work/msvenv/bin/python tools/make_op_cases.py [--only NAME ...] [--list] [--out DIR]

For each case a tiny `mindspore.nn.Cell` is built, run in GRAPH_MODE on CPU on seeded random inputs and
exported with `mindspore.export(..., file_format="MINDIR")`. The case folder
`conformance/mindinfer_conformance/cases/op/<name>/` receives `model.mindir`, `input_N.npy`,
`output_N.npy` (MindSpore's own outputs, in graph output order) and `case.json`; the primitive list in
`case.json` is read back from the exported file. Failures are recorded in `tools/op_cases_failures.json`
and the inventory of every case in `tools/op_cases_report.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import _msutil as U

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms
from mindspore import Parameter, Tensor, mint, nn, ops
from mindspore.ops.auto_generate import SequenceConcat
from mindspore.ops.operations._sequence_ops import TensorToTuple

ms.set_context(mode=ms.GRAPH_MODE)
ms.set_device("CPU")

DEFAULT_OUT = os.path.join(REPO, "conformance", "mindinfer_conformance", "cases", "op")
FAILURES = os.path.join(HERE, "op_cases_failures.json")
REPORT = os.path.join(HERE, "op_cases_report.md")

CASES: dict = {}


def case(name, note, rtol=1e-4, atol=1e-5, expected=None):
    def deco(fn):
        assert name not in CASES, name
        CASES[name] = {"build": fn, "note": note, "rtol": rtol, "atol": atol, "expected": expected}
        return fn

    return deco


# ---------------------------------------------------------------------------------------------
# Generic cells.  MindSpore's graph-mode parser needs real source for everything it compiles, so
# the functions below are plain module-level functions (no lambdas).
# ---------------------------------------------------------------------------------------------
class Fn(nn.Cell):
    """Calls a module-level function."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def construct(self, *xs):
        return self.fn(*xs)


class Op(nn.Cell):
    """Calls a primitive instance (or a sub-cell) on the inputs."""

    def __init__(self, op):
        super().__init__()
        self.op = op

    def construct(self, *xs):
        return self.op(*xs)


def R(rng, *shape, dtype=np.float32, lo=None, hi=None):
    if lo is not None:
        return rng.uniform(lo, hi, size=shape).astype(dtype)
    return rng.normal(0.0, 1.0, size=shape).astype(dtype)


def unary(name, fn, note, shape=(2, 3, 8), lo=None, hi=None, rtol=1e-4, atol=1e-5):
    def build(rng):
        return Fn(fn), [R(rng, *shape, lo=lo, hi=hi)]

    case(name, note, rtol=rtol, atol=atol)(build)


def binary(name, fn, note, sa=(2, 3, 4), sb=(4,), lo=None, hi=None, lo_b=None, hi_b=None, rtol=1e-4, atol=1e-5):
    def build(rng):
        return Fn(fn), [R(rng, *sa, lo=lo, hi=hi), R(rng, *sb, lo=lo_b, hi=hi_b)]

    case(name, note, rtol=rtol, atol=atol)(build)


def layer(name, make, note, *shapes, lo=None, hi=None, rtol=1e-4, atol=1e-5):
    def build(rng):
        return Op(make()), [R(rng, *s, lo=lo, hi=hi) for s in shapes]

    case(name, note, rtol=rtol, atol=atol)(build)


# ---------------------------------------------------------------------------------------------
# Convolutions
# ---------------------------------------------------------------------------------------------
layer(
    "conv2d_valid_nobias",
    lambda: nn.Conv2d(3, 8, 3, pad_mode="valid", has_bias=False),
    "nn.Conv2d 3x3 pad_mode=valid, no bias",
    (1, 3, 10, 10),
)
layer(
    "conv2d_valid_bias",
    lambda: nn.Conv2d(3, 8, 3, pad_mode="valid", has_bias=True),
    "nn.Conv2d 3x3 pad_mode=valid with bias",
    (1, 3, 10, 10),
)
layer(
    "conv2d_same_bias",
    lambda: nn.Conv2d(3, 8, 3, pad_mode="same", has_bias=True),
    "nn.Conv2d 3x3 pad_mode=same with bias",
    (2, 3, 9, 9),
)
layer(
    "conv2d_same_k4",
    lambda: nn.Conv2d(3, 4, 4, pad_mode="same", has_bias=False),
    "nn.Conv2d even kernel 4x4 pad_mode=same (asymmetric implicit padding)",
    (1, 3, 9, 9),
)
layer(
    "conv2d_pad1",
    lambda: nn.Conv2d(3, 8, 3, pad_mode="pad", padding=1, has_bias=True),
    "nn.Conv2d pad_mode=pad padding=1",
    (1, 3, 8, 8),
)
layer(
    "conv2d_pad_asym",
    lambda: nn.Conv2d(3, 4, 3, pad_mode="pad", padding=(1, 2, 0, 1), has_bias=False),
    "nn.Conv2d pad_mode=pad padding=(top1,bottom2,left0,right1)",
    (1, 3, 8, 8),
)
layer(
    "conv2d_stride2_same",
    lambda: nn.Conv2d(3, 8, 3, stride=2, pad_mode="same", has_bias=True),
    "nn.Conv2d stride 2 pad_mode=same, odd input",
    (1, 3, 11, 11),
)
layer(
    "conv2d_stride2_valid",
    lambda: nn.Conv2d(3, 8, 3, stride=2, pad_mode="valid", has_bias=False),
    "nn.Conv2d stride 2 pad_mode=valid, odd input",
    (1, 3, 11, 11),
)
layer(
    "conv2d_stride2_pad1",
    lambda: nn.Conv2d(4, 4, 3, stride=2, pad_mode="pad", padding=1, has_bias=False),
    "nn.Conv2d stride 2 pad_mode=pad padding=1, even input",
    (1, 4, 8, 8),
)
layer(
    "conv2d_dilation2_same",
    lambda: nn.Conv2d(3, 4, 3, dilation=2, pad_mode="same", has_bias=True),
    "nn.Conv2d dilation 2 pad_mode=same",
    (1, 3, 10, 10),
)
layer(
    "conv2d_dilation2_valid",
    lambda: nn.Conv2d(3, 4, 3, dilation=2, pad_mode="valid", has_bias=False),
    "nn.Conv2d dilation 2 pad_mode=valid",
    (1, 3, 10, 10),
)
layer(
    "conv2d_group2",
    lambda: nn.Conv2d(8, 6, 3, group=2, pad_mode="same", has_bias=True),
    "nn.Conv2d group=2 (grouped)",
    (1, 8, 7, 7),
)
layer(
    "conv2d_depthwise",
    lambda: nn.Conv2d(8, 8, 3, group=8, pad_mode="same", has_bias=False),
    "nn.Conv2d depthwise group=in=out=8",
    (1, 8, 7, 7),
)
layer(
    "conv2d_depthwise_s2_bias",
    lambda: nn.Conv2d(6, 6, 3, stride=2, group=6, pad_mode="pad", padding=1, has_bias=True),
    "nn.Conv2d depthwise stride 2 pad 1 with bias",
    (2, 6, 8, 8),
)
layer(
    "conv2d_depthwise_mult2",
    lambda: nn.Conv2d(4, 8, 3, group=4, pad_mode="same", has_bias=False),
    "nn.Conv2d depthwise with channel multiplier 2 (group=4, in=4, out=8)",
    (1, 4, 6, 6),
)
layer("conv2d_1x1", lambda: nn.Conv2d(8, 16, 1, has_bias=True), "nn.Conv2d pointwise 1x1 with bias", (2, 8, 5, 5))
layer(
    "conv2d_rect_kernel",
    lambda: nn.Conv2d(3, 4, (1, 3), stride=(2, 1), pad_mode="same", has_bias=False),
    "nn.Conv2d kernel (1,3) stride (2,1)",
    (1, 3, 8, 8),
)
layer(
    "conv2d_transpose_s2_same",
    lambda: nn.Conv2dTranspose(4, 3, 3, stride=2, pad_mode="same", has_bias=False),
    "nn.Conv2dTranspose kernel 3 stride 2 pad_mode=same",
    (1, 4, 5, 5),
)
layer(
    "conv2d_transpose_s2_valid",
    lambda: nn.Conv2dTranspose(4, 3, 2, stride=2, pad_mode="valid", has_bias=True),
    "nn.Conv2dTranspose kernel 2 stride 2 pad_mode=valid, bias",
    (1, 4, 5, 5),
)
layer(
    "conv2d_transpose_pad1",
    lambda: nn.Conv2dTranspose(4, 3, 4, stride=2, pad_mode="pad", padding=1, has_bias=False),
    "nn.Conv2dTranspose kernel 4 stride 2 pad_mode=pad padding=1",
    (1, 4, 5, 5),
)
layer(
    "conv1d_same",
    lambda: nn.Conv1d(3, 4, 3, pad_mode="same", has_bias=True),
    "nn.Conv1d kernel 3 pad_mode=same with bias",
    (2, 3, 12),
)
layer(
    "conv1d_valid_s2",
    lambda: nn.Conv1d(3, 4, 3, stride=2, pad_mode="valid", has_bias=False),
    "nn.Conv1d kernel 3 stride 2 valid",
    (2, 3, 12),
)


def f_conv2d_functional(x, w):
    return ops.conv2d(x, w, None, 1, "same", 0, 1)


@case("conv2d_functional_weight_input", "ops.conv2d with the weight as a graph input (no parameter)")
def _(rng):
    return Fn(f_conv2d_functional), [R(rng, 1, 3, 6, 6), R(rng, 4, 3, 3, 3)]


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------
layer("maxpool_k2s2_valid", lambda: nn.MaxPool2d(2, 2), "nn.MaxPool2d kernel 2 stride 2 valid", (1, 3, 8, 8))
layer(
    "maxpool_k3s2_valid_odd",
    lambda: nn.MaxPool2d(3, 2),
    "nn.MaxPool2d kernel 3 stride 2 valid, odd input",
    (1, 3, 9, 9),
)
layer(
    "maxpool_k3s2_same",
    lambda: nn.MaxPool2d(3, 2, pad_mode="same"),
    "nn.MaxPool2d kernel 3 stride 2 same",
    (1, 3, 8, 8),
)
layer(
    "maxpool_k3s1_same",
    lambda: nn.MaxPool2d(3, 1, pad_mode="same"),
    "nn.MaxPool2d kernel 3 stride 1 same",
    (1, 3, 6, 6),
)
layer(
    "maxpool_k3s2_pad1",
    lambda: nn.MaxPool2d(3, 2, pad_mode="pad", padding=1),
    "nn.MaxPool2d kernel 3 stride 2 pad_mode=pad padding=1 (ResNet stem)",
    (1, 3, 8, 8),
)
layer(
    "maxpool_ceil_mode",
    lambda: nn.MaxPool2d(2, 2, pad_mode="pad", padding=0, ceil_mode=True),
    "nn.MaxPool2d kernel 2 stride 2 ceil_mode=True on odd input",
    (1, 3, 7, 7),
)
layer("avgpool_k2s2_valid", lambda: nn.AvgPool2d(2, 2), "nn.AvgPool2d kernel 2 stride 2 valid", (1, 3, 8, 8))
layer(
    "avgpool_k3s2_same",
    lambda: nn.AvgPool2d(3, 2, pad_mode="same"),
    "nn.AvgPool2d kernel 3 stride 2 same",
    (1, 3, 8, 8),
)
layer(
    "avgpool_k3s1_same",
    lambda: nn.AvgPool2d(3, 1, pad_mode="same"),
    "nn.AvgPool2d kernel 3 stride 1 same (border windows)",
    (1, 3, 6, 6),
)
layer(
    "avgpool_pad1_include",
    lambda: nn.AvgPool2d(3, 2, pad_mode="pad", padding=1, count_include_pad=True),
    "nn.AvgPool2d pad 1 count_include_pad=True",
    (1, 3, 8, 8),
)
layer(
    "avgpool_pad1_exclude",
    lambda: nn.AvgPool2d(3, 2, pad_mode="pad", padding=1, count_include_pad=False),
    "nn.AvgPool2d pad 1 count_include_pad=False",
    (1, 3, 8, 8),
)
layer("adaptive_avgpool_1x1", lambda: nn.AdaptiveAvgPool2d((1, 1)), "nn.AdaptiveAvgPool2d((1,1))", (2, 4, 7, 7))
layer(
    "adaptive_avgpool_3x2",
    lambda: nn.AdaptiveAvgPool2d((3, 2)),
    "nn.AdaptiveAvgPool2d((3,2)) on 7x5 (uneven bins)",
    (1, 4, 7, 5),
)
layer("adaptive_maxpool_2x2", lambda: nn.AdaptiveMaxPool2d((2, 2)), "nn.AdaptiveMaxPool2d((2,2)) on 5x5", (1, 3, 5, 5))


def f_global_mean_keep(x):
    return ops.mean(x, (2, 3), keep_dims=True)


unary(
    "global_mean_keepdims",
    f_global_mean_keep,
    "ops.mean over (2,3) keep_dims=True (global average pool)",
    shape=(2, 4, 5, 5),
)
layer("maxpool1d", lambda: nn.MaxPool1d(2, 2), "nn.MaxPool1d kernel 2 stride 2", (2, 3, 10))
layer("avgpool1d", lambda: nn.AvgPool1d(3, 1), "nn.AvgPool1d kernel 3 stride 1", (2, 3, 10))

# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------
layer("batchnorm2d", lambda: nn.BatchNorm2d(8), "nn.BatchNorm2d inference with random moving stats", (2, 8, 4, 4))
layer("batchnorm2d_eps1e3", lambda: nn.BatchNorm2d(4, eps=1e-3), "nn.BatchNorm2d eps=1e-3", (1, 4, 5, 5))
layer("batchnorm1d", lambda: nn.BatchNorm1d(16), "nn.BatchNorm1d inference on (N,C)", (4, 16))
class DenseBatchNorm(nn.Cell):
    """nn.Dense, then ops.BatchNorm straight on the (N, C) result (nn.BatchNorm1d reshapes to 4-D first)."""

    def __init__(self):
        super().__init__()
        self.dense = nn.Dense(8, 6)
        self.bn = ops.BatchNorm(is_training=False, epsilon=0.5)
        self.gamma = Parameter(Tensor(np.ones(6, np.float32)), name="gamma")
        self.beta = Parameter(Tensor(np.zeros(6, np.float32)), name="beta")
        self.moving_mean = Parameter(Tensor(np.zeros(6, np.float32)), name="moving_mean")
        self.moving_variance = Parameter(Tensor(np.ones(6, np.float32)), name="moving_variance")

    def construct(self, x):
        return self.bn(self.dense(x), self.gamma, self.beta, self.moving_mean, self.moving_variance)[0]


# The cpu plugin folds these BatchNorms (and the bias) into the weights: eps far from the default
# tells a fold that reads the wrong epsilon apart (tests/plugins/cpu/test_fusion.py runs them in 1.x form too).
layer(
    "batchnorm_after_conv_eps05",
    lambda: nn.SequentialCell([nn.Conv2d(3, 4, 3, pad_mode="same", has_bias=True), nn.BatchNorm2d(4, eps=0.5), nn.ReLU()]),
    "nn.Conv2d with bias, nn.BatchNorm2d eps=0.5, ReLU (Conv2D + BiasAdd + BatchNorm + ReLU)",
    (1, 3, 8, 8),
)
layer(
    "batchnorm_after_dense_eps05",
    lambda: DenseBatchNorm(),
    "nn.Dense then ops.BatchNorm(epsilon=0.5) on its (N, C) output (MatMul transpose_b + BiasAdd + BatchNorm)",
    (4, 8),
)
layer("layernorm_last", lambda: nn.LayerNorm((16,)), "nn.LayerNorm over last axis", (2, 5, 16))
layer(
    "layernorm_begin1",
    lambda: nn.LayerNorm((5, 16), begin_norm_axis=1, begin_params_axis=1),
    "nn.LayerNorm begin_norm_axis=1 begin_params_axis=1 (normalise over two axes)",
    (2, 5, 16),
)
layer("layernorm_eps1e5", lambda: nn.LayerNorm((8,), epsilon=1e-5), "nn.LayerNorm epsilon=1e-5 on (3,8)", (3, 8))
layer("groupnorm", lambda: nn.GroupNorm(2, 8), "nn.GroupNorm 2 groups of 8 channels", (2, 8, 3, 3))
layer("instancenorm2d", lambda: nn.InstanceNorm2d(4), "nn.InstanceNorm2d affine", (2, 4, 5, 5))


def f_l2_normalize(x):
    return ops.L2Normalize(axis=-1, epsilon=1e-6)(x)


unary("l2_normalize", f_l2_normalize, "ops.L2Normalize axis -1", shape=(3, 8))


def f_layer_norm_functional(x, g, b):
    return ops.layer_norm(x, (8,), g, b, 1e-5)


@case("layernorm_functional", "ops.layer_norm with gamma/beta as graph inputs")
def _(rng):
    return Fn(f_layer_norm_functional), [R(rng, 2, 3, 8), R(rng, 8), R(rng, 8)]


# ---------------------------------------------------------------------------------------------
# Activations and unary math
# ---------------------------------------------------------------------------------------------
def f_relu(x):
    return ops.relu(x)


def f_relu6(x):
    return ops.relu6(x * 4.0)


def f_sigmoid(x):
    return ops.sigmoid(x)


def f_tanh(x):
    return ops.tanh(x)


def f_gelu_tanh(x):
    return ops.gelu(x, approximate="tanh")


def f_gelu_erf(x):
    return ops.gelu(x, approximate="none")


def f_silu(x):
    return ops.silu(x)


def f_swish_manual(x):
    return x * ops.sigmoid(x)


def f_hswish(x):
    return ops.hardswish(x * 3.0)


def f_hsigmoid(x):
    return ops.hardsigmoid(x * 3.0)


def f_softmax_last(x):
    return ops.softmax(x, -1)


def f_softmax_axis1(x):
    return ops.softmax(x, 1)


def f_log_softmax(x):
    return ops.log_softmax(x, -1)


def f_leaky_relu(x):
    return ops.leaky_relu(x, 0.1)


def f_elu(x):
    return ops.elu(x, 1.0)


def f_mish(x):
    return ops.mish(x)


def f_softplus(x):
    return ops.softplus(x)


def f_erf(x):
    return ops.erf(x)


def f_exp(x):
    return ops.exp(x)


def f_log(x):
    return ops.log(x)


def f_sqrt(x):
    return ops.sqrt(x)


def f_rsqrt(x):
    return ops.rsqrt(x)


def f_abs(x):
    return ops.abs(x)


def f_neg(x):
    return ops.neg(x)


def f_pow_scalar(x):
    return ops.pow(x, 2.5)


def f_pow_tensor(x, y):
    return ops.pow(x, y)


def f_square(x):
    return ops.square(x)


def f_floor(x):
    return ops.floor(x * 3.0)


def f_ceil(x):
    return ops.ceil(x * 3.0)


def f_round(x):
    return ops.round(x * 3.0)


def f_round_decimals(x):
    return ops.round(x * 3.0, decimals=2)


def f_reciprocal(x):
    return ops.reciprocal(x)


def f_sign(x):
    return ops.sign(x)


def f_sin(x):
    return ops.sin(x)


def f_cos(x):
    return ops.cos(x)


def f_maximum(x, y):
    return ops.maximum(x, y)


def f_minimum(x, y):
    return ops.minimum(x, y)


def f_clip_by_value(x):
    return ops.clip_by_value(x, -0.5, 0.7)


def f_clamp(x):
    return ops.clamp(x, -0.5, 0.7)


def f_clamp_min_only(x):
    return ops.clamp(x, min=0.1)


unary("relu", f_relu, "ops.relu")
layer("nn_relu", lambda: nn.ReLU(), "nn.ReLU", (2, 3, 8))
unary("relu6", f_relu6, "ops.relu6 (input scaled x4 so both clamps are hit)")
layer("nn_relu6", lambda: nn.ReLU6(), "nn.ReLU6", (2, 3, 8), lo=-8, hi=8)
unary("sigmoid", f_sigmoid, "ops.sigmoid")
unary("tanh", f_tanh, "ops.tanh")
unary("gelu_tanh", f_gelu_tanh, "ops.gelu approximate='tanh'")
unary("gelu_erf", f_gelu_erf, "ops.gelu approximate='none' (exact, erf)")
layer("nn_gelu_approx", lambda: nn.GELU(approximate=True), "nn.GELU approximate=True", (2, 3, 8))
layer("nn_gelu_exact", lambda: nn.GELU(approximate=False), "nn.GELU approximate=False", (2, 3, 8))
unary("silu", f_silu, "ops.silu")
layer("nn_silu", lambda: nn.SiLU(), "nn.SiLU", (2, 3, 8))
unary("swish_manual", f_swish_manual, "x * sigmoid(x) written out")
unary("hswish", f_hswish, "ops.hardswish (input x3)")
layer("nn_hswish", lambda: nn.HSwish(), "nn.HSwish", (2, 3, 8), lo=-5, hi=5)
unary("hsigmoid", f_hsigmoid, "ops.hardsigmoid (input x3)")
layer("nn_hsigmoid", lambda: nn.HSigmoid(), "nn.HSigmoid", (2, 3, 8), lo=-5, hi=5)
unary("softmax_last", f_softmax_last, "ops.softmax axis -1")
unary("softmax_axis1", f_softmax_axis1, "ops.softmax axis 1 (not last)")
layer("nn_softmax", lambda: nn.Softmax(), "nn.Softmax default axis", (2, 3, 8))
unary("log_softmax", f_log_softmax, "ops.log_softmax axis -1")
layer("nn_log_softmax", lambda: nn.LogSoftmax(1), "nn.LogSoftmax axis 1", (2, 3, 8))
unary("leaky_relu", f_leaky_relu, "ops.leaky_relu alpha 0.1")
layer("nn_leaky_relu", lambda: nn.LeakyReLU(0.2), "nn.LeakyReLU alpha 0.2", (2, 3, 8))
unary("elu", f_elu, "ops.elu alpha 1.0")
layer("nn_prelu", lambda: nn.PReLU(3, 0.25), "nn.PReLU per-channel (3 channels)", (2, 3, 4, 4))
unary("mish", f_mish, "ops.mish")
unary("softplus", f_softplus, "ops.softplus")
unary("erf", f_erf, "ops.erf")
unary("exp", f_exp, "ops.exp")
unary("log", f_log, "ops.log on positive input", lo=0.1, hi=4.0)
unary("sqrt", f_sqrt, "ops.sqrt on positive input", lo=0.1, hi=4.0)
unary("rsqrt", f_rsqrt, "ops.rsqrt on positive input", lo=0.1, hi=4.0)
unary("abs", f_abs, "ops.abs")
unary("neg", f_neg, "ops.neg")
unary("pow_scalar", f_pow_scalar, "ops.pow(x, 2.5) on positive input", lo=0.1, hi=3.0)
binary(
    "pow_tensor",
    f_pow_tensor,
    "ops.pow(x, y) tensor exponent with broadcasting",
    sa=(2, 3, 4),
    sb=(4,),
    lo=0.1,
    hi=3.0,
    lo_b=-2.0,
    hi_b=2.0,
)
unary("square", f_square, "ops.square")
unary("floor", f_floor, "ops.floor (input x3)")
unary("ceil", f_ceil, "ops.ceil (input x3)")
unary("round", f_round, "ops.round (input x3)")
unary("round_decimals", f_round_decimals, "ops.round(x * 3, decimals=2)")
unary("reciprocal", f_reciprocal, "ops.reciprocal on positive input", lo=0.2, hi=3.0)
unary("sign", f_sign, "ops.sign")
unary("sin", f_sin, "ops.sin")
unary("cos", f_cos, "ops.cos")
binary("maximum_bcast", f_maximum, "ops.maximum with broadcasting")
binary("minimum_bcast", f_minimum, "ops.minimum with broadcasting")
unary("clip_by_value", f_clip_by_value, "ops.clip_by_value(x, -0.5, 0.7)")
unary("clamp", f_clamp, "ops.clamp(x, -0.5, 0.7)")
unary("clamp_min_only", f_clamp_min_only, "ops.clamp(x, min=0.1)")


# ---------------------------------------------------------------------------------------------
# Elementwise binary, broadcasting, scalars, comparisons, logic
# ---------------------------------------------------------------------------------------------
def f_add(x, y):
    return ops.add(x, y)


def f_add_op(x, y):
    return x + y


def f_sub(x, y):
    return ops.sub(x, y)


def f_mul(x, y):
    return ops.mul(x, y)


def f_div(x, y):
    return ops.div(x, y)


def f_realdiv(x, y):
    return ops.RealDiv()(x, y)


def f_truediv_op(x, y):
    return x / y


def f_mul_scalar(x):
    return ops.mul(x, 2.5)


def f_mul_scalar_op(x):
    return x * 2.5


def f_add_scalar(x):
    return x + 1.5


def f_sub_scalar(x):
    return x - 1.5


def f_rsub_scalar(x):
    return 1.0 - x


def f_div_scalar(x):
    return x / 4.0


def f_rdiv_scalar(x):
    return 1.0 / x


def f_greater(x, y):
    return ops.greater(x, y)


def f_less(x, y):
    return ops.less(x, y)


def f_equal(x, y):
    return ops.equal(x, y)


def f_not_equal(x, y):
    return ops.not_equal(x, y)


def f_greater_equal(x, y):
    return ops.greater_equal(x, y)


def f_less_equal(x, y):
    return x <= y


def f_logical_and(x, y):
    return ops.logical_and(x > 0.0, y > 0.0)


def f_logical_or(x, y):
    return ops.logical_or(x > 0.0, y > 0.0)


def f_logical_not(x):
    return ops.logical_not(x > 0.0)


def f_floor_div(x, y):
    return ops.floor_divide(x, y)


def f_floor_mod(x, y):
    return ops.floor_mod(x, y)


def f_squared_difference(x, y):
    return ops.SquaredDifference()(x, y)


def f_addn(x, y):
    return ops.addn([x, y, x])


binary("add_bcast", f_add, "ops.add (2,3,4)+(4,)")
binary("add_bcast_both", f_add_op, "x + y with both sides broadcast: (2,1,4)+(3,1)", sa=(2, 1, 4), sb=(3, 1))
binary("add_same_shape", f_add_op, "x + y same shape", sa=(2, 3, 4), sb=(2, 3, 4))
binary("sub_bcast", f_sub, "ops.sub (2,3,4)-(3,1)", sb=(3, 1))
binary("mul_bcast", f_mul, "ops.mul (2,3,4)*(1,3,1)", sb=(1, 3, 1))
binary("div_bcast", f_div, "ops.div with broadcasting", lo_b=0.5, hi_b=2.0)
binary("realdiv_bcast", f_realdiv, "ops.RealDiv primitive with broadcasting", lo_b=0.5, hi_b=2.0)
binary("truediv_operator", f_truediv_op, "x / y operator", lo_b=0.5, hi_b=2.0)
unary("mul_scalar", f_mul_scalar, "ops.mul(x, 2.5) with a Python scalar")
unary("mul_scalar_operator", f_mul_scalar_op, "x * 2.5 with a Python scalar")
unary("add_scalar", f_add_scalar, "x + 1.5 with a Python scalar")
unary("sub_scalar", f_sub_scalar, "x - 1.5 with a Python scalar")
unary("rsub_scalar", f_rsub_scalar, "1.0 - x (scalar on the left)")
unary("div_scalar", f_div_scalar, "x / 4.0 with a Python scalar")
unary("rdiv_scalar", f_rdiv_scalar, "1.0 / x (scalar on the left), positive input", lo=0.5, hi=2.0)
binary("floor_div", f_floor_div, "ops.floor_divide", lo_b=0.5, hi_b=2.0)
binary("floor_mod", f_floor_mod, "ops.floor_mod", lo_b=0.5, hi_b=2.0)
binary("squared_difference", f_squared_difference, "ops.SquaredDifference")
binary("addn", f_addn, "ops.addn of three same-shape tensors", sb=(2, 3, 4))


def cmp_case(name, fn, note):
    def build(rng):
        a = rng.integers(-2, 3, size=(2, 3, 4)).astype(np.float32)
        b = rng.integers(-2, 3, size=(3, 4)).astype(np.float32)
        return Fn(fn), [a, b]

    case(name, note)(build)


cmp_case("greater", f_greater, "ops.greater with broadcasting -> bool (integer-valued floats so ties occur)")
cmp_case("less", f_less, "ops.less with broadcasting -> bool")
cmp_case("equal", f_equal, "ops.equal with broadcasting -> bool")
cmp_case("not_equal", f_not_equal, "ops.not_equal -> bool")
cmp_case("greater_equal", f_greater_equal, "ops.greater_equal -> bool")
cmp_case("less_equal", f_less_equal, "x <= y -> bool")
binary("logical_and", f_logical_and, "ops.logical_and of two comparisons -> bool", sb=(2, 3, 4))
binary("logical_or", f_logical_or, "ops.logical_or of two comparisons -> bool", sb=(2, 3, 4))
unary("logical_not", f_logical_not, "ops.logical_not of a comparison -> bool")


# ---------------------------------------------------------------------------------------------
# Shape ops
# ---------------------------------------------------------------------------------------------
def f_reshape(x):
    return ops.reshape(x, (4, 6))


def f_reshape_neg1(x):
    return x.reshape((2, -1))


def f_transpose(x):
    return ops.transpose(x, (0, 2, 3, 1))


def f_transpose_2d(x):
    return x.T


def f_permute(x):
    return ops.permute(x, (2, 0, 1))


def f_flatten(x):
    return ops.flatten(x)


def f_expand_dims(x):
    return ops.expand_dims(x, 1)


def f_unsqueeze_neg(x):
    return ops.unsqueeze(x, -1)


def f_squeeze(x):
    return ops.squeeze(x)


def f_squeeze_axis(x):
    return ops.squeeze(x, 2)


def f_concat0(x, y):
    return ops.concat((x, y), 0)


def f_concat1(x, y):
    return ops.concat((x, y), 1)


def f_concat_neg1(x, y):
    return ops.concat((x, y, x), -1)


def f_stack(x, y):
    return ops.stack((x, y), 1)


def f_split_3(x):
    return ops.Split(1, 3)(x)


def f_split_sizes(x):
    return ops.split(x, (2, 4), -1)


def f_chunk(x):
    return ops.chunk(x, 2, 0)


def f_ss_basic(x):
    return x[:, 1:5:2]


def f_ss_masks(x):
    return ops.StridedSlice(begin_mask=0b101, end_mask=0b010, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0)(
        x, (1, 1, 2), (2, 3, 6), (1, 1, 2)
    )


def f_ss_shrink(x):
    return x[:, 0]


def f_ss_ellipsis(x):
    return x[..., 1:3]


def f_ss_newaxis(x):
    return x[:, None, 1:]


def f_ss_neg_stride(x):
    return x[:, ::-1]


def f_ss_neg_index(x):
    return x[-1, :, -3:-1]


def f_slice(x):
    return ops.slice(x, (0, 1, 2), (2, 2, 3))


def f_tile(x):
    return ops.tile(x, (2, 1, 3))


def f_broadcast_to(x):
    return ops.broadcast_to(x, (2, 3, 4))


def f_gather_axis1(x, i):
    return ops.gather(x, i, 1)


def f_gather_d(x, i):
    return ops.gather_elements(x, 1, i)


def f_pad_constant(x):
    return ops.pad(x, (1, 2, 0, 1), "constant", 0.5)


def f_pad_reflect(x):
    return ops.pad(x, (1, 2, 2, 1), "reflect")


def f_pad_replicate(x):
    return ops.pad(x, (1, 1, 2, 0), "replicate")


def f_resize_nearest_size(x):
    return ops.interpolate(x, size=(8, 10), mode="nearest")


def f_resize_nearest_scale(x):
    return ops.interpolate(x, scale_factor=(2.0, 2.0), mode="nearest", recompute_scale_factor=True)


def f_resize_bilinear_ac(x):
    return ops.interpolate(x, size=(9, 7), mode="bilinear", align_corners=True)


def f_resize_bilinear_noac(x):
    return ops.interpolate(x, size=(9, 7), mode="bilinear", align_corners=False)


def f_resize_bilinear_down(x):
    return ops.interpolate(x, size=(3, 3), mode="bilinear", align_corners=False)


def f_identity(x):
    return ops.identity(x)


def f_index_select(x, i):
    return ops.index_select(x, 0, i)


def f_roll(x):
    return ops.roll(x, 2, 1)


def f_flip(x):
    return ops.flip(x, (1,))


unary("reshape", f_reshape, "ops.reshape to (4,6)", shape=(2, 3, 4))
unary("reshape_neg1", f_reshape_neg1, "Tensor.reshape with -1", shape=(2, 3, 4))
unary("transpose_nchw_nhwc", f_transpose, "ops.transpose (0,2,3,1)", shape=(2, 3, 4, 5))
unary("transpose_2d_T", f_transpose_2d, "Tensor.T on a 2-D tensor", shape=(3, 5))
unary("permute", f_permute, "ops.permute (2,0,1)", shape=(2, 3, 4))
unary("flatten", f_flatten, "ops.flatten (start_dim=1)", shape=(2, 3, 4, 5))
layer("nn_flatten", lambda: nn.Flatten(), "nn.Flatten", (2, 3, 4, 5))
unary("expand_dims", f_expand_dims, "ops.expand_dims axis 1", shape=(2, 3))
unary("unsqueeze_neg", f_unsqueeze_neg, "ops.unsqueeze axis -1", shape=(2, 3))
unary("squeeze_all", f_squeeze, "ops.squeeze all unit axes", shape=(2, 1, 3, 1))
unary("squeeze_axis", f_squeeze_axis, "ops.squeeze axis 2", shape=(2, 3, 1, 4))
binary("concat_axis0", f_concat0, "ops.concat axis 0", sa=(2, 3), sb=(4, 3))
binary("concat_axis1", f_concat1, "ops.concat axis 1", sa=(2, 3, 4), sb=(2, 5, 4))
binary("concat_neg1_three", f_concat_neg1, "ops.concat of three tensors axis -1", sa=(2, 3), sb=(2, 2))
binary("stack_axis1", f_stack, "ops.stack axis 1", sa=(2, 3), sb=(2, 3))
unary("split_output_num3", f_split_3, "ops.Split(axis=1, output_num=3): tuple output", shape=(2, 6, 4))
unary("split_sizes", f_split_sizes, "ops.split with sizes (2,4) on axis -1", shape=(3, 6))
unary("chunk", f_chunk, "ops.chunk 2 on axis 0", shape=(4, 3))
unary("strided_slice_basic", f_ss_basic, "x[:, 1:5:2]", shape=(2, 6, 3))
unary("strided_slice_masks", f_ss_masks, "ops.StridedSlice begin_mask=5 end_mask=2 strides (1,1,2)", shape=(3, 4, 8))
unary("strided_slice_shrink", f_ss_shrink, "x[:, 0] (shrink_axis_mask)", shape=(2, 3, 4))
unary("strided_slice_ellipsis", f_ss_ellipsis, "x[..., 1:3] (ellipsis)", shape=(2, 3, 4))
unary("strided_slice_newaxis", f_ss_newaxis, "x[:, None, 1:] (new axis)", shape=(2, 3, 4))
unary("strided_slice_neg_stride", f_ss_neg_stride, "x[:, ::-1] (negative stride)", shape=(2, 5, 3))
unary("strided_slice_neg_index", f_ss_neg_index, "x[-1, :, -3:-1] (negative indices)", shape=(2, 3, 6))
unary("slice", f_slice, "ops.slice begin (0,1,2) size (2,2,3)", shape=(2, 4, 6))
unary("tile", f_tile, "ops.tile (2,1,3)", shape=(2, 3, 4))
unary("broadcast_to", f_broadcast_to, "ops.broadcast_to (3,1) -> (2,3,4)", shape=(3, 1))
unary("roll", f_roll, "ops.roll shift 2 axis 1", shape=(2, 5))
unary("flip", f_flip, "ops.flip axis 1", shape=(2, 5, 3))
layer("nn_identity", lambda: nn.Identity(), "nn.Identity", (2, 3))
unary("identity", f_identity, "ops.identity", shape=(2, 3))
unary("pad_constant", f_pad_constant, "ops.pad constant value 0.5 (left1,right2,top0,bottom1)", shape=(1, 2, 3, 4))
unary("pad_reflect", f_pad_reflect, "ops.pad reflect", shape=(1, 2, 4, 5))
unary("pad_replicate", f_pad_replicate, "ops.pad replicate (edge)", shape=(1, 2, 4, 5))
layer("nn_pad_constant", lambda: nn.Pad(((0, 0), (0, 0), (1, 1), (2, 0))), "nn.Pad CONSTANT", (1, 2, 3, 3))
layer(
    "nn_pad_reflect", lambda: nn.Pad(((0, 0), (0, 0), (1, 1), (2, 1)), mode="REFLECT"), "nn.Pad REFLECT", (1, 2, 4, 4)
)
unary("resize_nearest_size", f_resize_nearest_size, "ops.interpolate nearest to size (8,10)", shape=(1, 2, 4, 5))
unary("resize_nearest_scale2", f_resize_nearest_scale, "ops.interpolate nearest scale_factor 2", shape=(1, 2, 3, 4))
unary(
    "resize_bilinear_align_corners",
    f_resize_bilinear_ac,
    "ops.interpolate bilinear align_corners=True",
    shape=(1, 2, 4, 5),
)
unary(
    "resize_bilinear_half_pixel",
    f_resize_bilinear_noac,
    "ops.interpolate bilinear align_corners=False",
    shape=(1, 2, 4, 5),
)
unary(
    "resize_bilinear_down", f_resize_bilinear_down, "ops.interpolate bilinear downscale 7x6 -> 3x3", shape=(1, 2, 7, 6)
)
layer(
    "nn_resize_bilinear",
    lambda: nn.ResizeBilinear(),
    "nn.ResizeBilinear (removed in 2.x: recorded as a failure)",
    (1, 2, 4, 5),
)


def f_resize_nn_prim(x):
    return ops.ResizeNearestNeighbor((7, 9), align_corners=False)(x)


def f_resize_nn_prim_ac(x):
    return ops.ResizeNearestNeighbor((7, 9), align_corners=True)(x)


def f_resize_bilinear_v2_prim(x):
    return ops.ResizeBilinearV2(align_corners=False, half_pixel_centers=True)(x, (7, 9))


def f_resize_bilinear_v2_legacy(x):
    return ops.ResizeBilinearV2(align_corners=False, half_pixel_centers=False)(x, (7, 9))


def f_resize_bilinear_v2_ac(x):
    return ops.ResizeBilinearV2(align_corners=True, half_pixel_centers=False)(x, (7, 9))


def f_resize_nn_v2_hp(x):
    return ops.ResizeNearestNeighborV2(align_corners=False, half_pixel_centers=True)(x, (7, 9))


unary(
    "resize_nearest_neighbor_prim",
    f_resize_nn_prim,
    "ops.ResizeNearestNeighbor primitive size (7,9) align_corners=False",
    shape=(1, 2, 4, 5),
)
unary(
    "resize_nearest_neighbor_prim_ac",
    f_resize_nn_prim_ac,
    "ops.ResizeNearestNeighbor primitive align_corners=True",
    shape=(1, 2, 4, 5),
)
unary(
    "resize_nearest_v2_half_pixel",
    f_resize_nn_v2_hp,
    "ops.ResizeNearestNeighborV2 half_pixel_centers=True",
    shape=(1, 2, 4, 5),
)
unary(
    "resize_bilinear_v2_half_pixel",
    f_resize_bilinear_v2_prim,
    "ops.ResizeBilinearV2 half_pixel_centers=True",
    shape=(1, 2, 4, 5),
)
unary(
    "resize_bilinear_v2_legacy",
    f_resize_bilinear_v2_legacy,
    "ops.ResizeBilinearV2 align_corners=False half_pixel_centers=False (asymmetric)",
    shape=(1, 2, 4, 5),
)
unary(
    "resize_bilinear_v2_align_corners",
    f_resize_bilinear_v2_ac,
    "ops.ResizeBilinearV2 align_corners=True",
    shape=(1, 2, 4, 5),
)
layer(
    "nn_upsample_nearest",
    lambda: nn.Upsample(scale_factor=2.0, mode="nearest", recompute_scale_factor=True),
    "nn.Upsample nearest x2",
    (1, 2, 3, 3),
)


@case("gather_embedding_int32", "ops.gather(table_param, int32 indices, 0): embedding lookup")
def _(rng):
    class Emb(nn.Cell):
        def __init__(self):
            super().__init__()
            self.table = Parameter(Tensor(R(rng, 20, 8)), name="table")

        def construct(self, idx):
            return ops.gather(self.table, idx, 0)

    return Emb(), [rng.integers(0, 20, size=(2, 5)).astype(np.int32)]


@case("nn_embedding", "nn.Embedding(20, 8) with int32 indices")
def _(rng):
    return Op(nn.Embedding(20, 8)), [rng.integers(0, 20, size=(2, 5)).astype(np.int32)]


@case("gather_axis1", "ops.gather axis 1 with int32 indices input")
def _(rng):
    return Fn(f_gather_axis1), [R(rng, 3, 6, 2), rng.integers(0, 6, size=(4,)).astype(np.int32)]


@case("gather_d", "ops.gather_elements (GatherD) dim 1")
def _(rng):
    return Fn(f_gather_d), [R(rng, 3, 5), rng.integers(0, 5, size=(3, 4)).astype(np.int32)]


@case("index_select", "ops.index_select axis 0")
def _(rng):
    return Fn(f_index_select), [R(rng, 5, 3), rng.integers(0, 5, size=(4,)).astype(np.int32)]


class InplaceAdd(nn.Cell):
    """The mindcv ResNet residual pattern `out += identity`."""

    def construct(self, x, y):
        out = ops.relu(x)
        out += y
        return out


class BasicBlocks(nn.Cell):
    """Two ResNet basic blocks in mindcv's order: conv-BN-ReLU, conv-BN, then (second block) the
    identity's strided 1x1 conv-BN, `out += identity`, ReLU."""

    def __init__(self, c=8):
        super().__init__()

        def conv_bn(cin, cout, k, stride=1):
            pad = {"pad_mode": "pad", "padding": k // 2} if k > 1 else {}
            return nn.SequentialCell([nn.Conv2d(cin, cout, k, stride=stride, has_bias=False, **pad), nn.BatchNorm2d(cout)])

        self.a1, self.a2 = conv_bn(c, c, 3), conv_bn(c, c, 3)
        self.b1, self.b2, self.down = conv_bn(c, 2 * c, 3, 2), conv_bn(2 * c, 2 * c, 3), conv_bn(c, 2 * c, 1, 2)
        self.relu = nn.ReLU()

    def construct(self, x):
        out = self.a2(self.relu(self.a1(x)))
        out += x
        x = self.relu(out)
        out = self.b2(self.relu(self.b1(x)))
        identity = self.down(x)
        out += identity
        return self.relu(out)


class WideBlocks(nn.Cell):
    """A 64-channel ResNet basic block on an odd-sized map, then a VALID 3x3 conv with bias and ReLU:
    3x3 stride-1 convolutions wide and large enough for the cpu plugin's Winograd kernel."""

    def __init__(self, c=64):
        super().__init__()
        self.a1 = nn.SequentialCell([nn.Conv2d(c, c, 3, pad_mode="pad", padding=1, has_bias=False), nn.BatchNorm2d(c)])
        self.a2 = nn.SequentialCell([nn.Conv2d(c, c, 3, pad_mode="pad", padding=1, has_bias=False), nn.BatchNorm2d(c)])
        self.tail = nn.Conv2d(c, c, 3, pad_mode="valid", has_bias=True)
        self.relu = nn.ReLU()

    def construct(self, x):
        out = self.a2(self.relu(self.a1(x)))
        out += x
        return self.relu(self.tail(self.relu(out)))


class TupleUnpack(nn.Cell):
    """`a, b, c = t` on a tensor (ViT's q, k, v split)."""

    def construct(self, x):
        a, b, c = x
        return a * b - c


def f_unstack(x): return ops.unstack(x, 1)
def f_unbind(x): return ops.unbind(x, -1)


@case("inplace_add_residual", "`out += identity` as in mindcv ResNet blocks (InplaceAddExt)")
def _(rng):
    return InplaceAdd(), [R(rng, 2, 3, 4), R(rng, 2, 3, 4)]


@case("resnet_basic_blocks", "two mindcv-style ResNet basic blocks: conv-BN-ReLU, conv-BN, out += identity "
      "(one plain, one through a strided 1x1 conv-BN computed after the main branch), ReLU", rtol=1e-4, atol=1e-4)
def _(rng):
    return BasicBlocks(), [R(rng, 2, 8, 10, 10)]


@case("winograd_blocks", "64-channel 3x3 stride-1 convolutions on 13x13 and 11x11 maps (batch 2): a ResNet basic "
      "block with its skip connection, then a VALID conv with bias and ReLU", rtol=1e-4, atol=1e-4)
def _(rng):
    return WideBlocks(), [R(rng, 2, 64, 13, 13)]


@case("tensor_tuple_unpack", "a, b, c = x on a (3, 2, 4) tensor (ViT q/k/v split)")
def _(rng):
    return TupleUnpack(), [R(rng, 3, 2, 4)]


unary("unstack_axis1", f_unstack, "ops.unstack axis 1 -> 3 outputs", shape=(2, 3, 4))
unary("unbind_last", f_unbind, "ops.unbind axis -1 -> 4 outputs", shape=(2, 4))

# ---------------------------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------------------------
def f_mean_keep(x):
    return ops.mean(x, 1, keep_dims=True)


def f_mean_nokeep(x):
    return ops.mean(x, 1, keep_dims=False)


def f_mean_neg(x):
    return ops.mean(x, (-1, -2), keep_dims=False)


def f_mean_all(x):
    return ops.mean(x)


def f_sum(x):
    return ops.sum(x, 1)


def f_sum_keep_neg(x):
    return ops.sum(x, -1, keepdim=True)


def f_reduce_sum_prim(x):
    return ops.ReduceSum(keep_dims=False)(x, (0, 2))


def f_reduce_mean_prim(x):
    return ops.ReduceMean(keep_dims=True)(x, -1)


def f_reduce_max_prim(x):
    return ops.ReduceMax(keep_dims=False)(x, 1)


def f_amax(x):
    return ops.amax(x, -1, True)


def f_reduce_min_prim(x):
    return ops.ReduceMin(keep_dims=True)(x, (1, 2))


def f_amin(x):
    return ops.amin(x, 0)


def f_prod(x):
    return ops.prod(x, 1)


def f_argmax(x):
    return ops.argmax(x, -1)


def f_argmax_keep(x):
    return ops.argmax(x, 1, keepdim=True)


def f_argmin(x):
    return ops.argmin(x, 1)


def f_mint_argmax_keep(x):
    return mint.argmax(x, 1, keepdim=True)


def f_max_with_idx(x):
    return ops.max(x, 1)


def f_argmax_with_value(x):
    return ops.ArgMaxWithValue(axis=-1, keep_dims=False)(x)


def f_topk(x):
    return ops.topk(x, 3)


def f_topk_dim1_smallest(x):
    return ops.topk(x, 2, dim=1, largest=False)


def f_cumsum(x):
    return ops.cumsum(x, 1)


def f_cumsum_excl(x):
    return ops.CumSum(exclusive=True, reverse=False)(x, 1)


def f_cumsum_rev(x):
    return ops.CumSum(exclusive=False, reverse=True)(x, -1)


def f_cumsum_excl_rev(x):
    return ops.CumSum(exclusive=True, reverse=True)(x, 0)


def f_cumprod(x):
    return ops.cumprod(x, 1)


def f_all(x):
    return ops.all(x > 0.0, 1)


def f_any(x):
    return ops.any(x > 0.0, -1)


def f_var(x):
    return ops.var(x, -1)


def f_std(x):
    return ops.std(x, -1)


def f_logsumexp(x):
    return ops.logsumexp(x, -1)


def f_norm(x):
    return ops.norm(x, 2, -1)


unary("reduce_mean_keepdims", f_mean_keep, "ops.mean axis 1 keep_dims=True")
unary("reduce_mean_nokeep", f_mean_nokeep, "ops.mean axis 1 keep_dims=False")
unary("reduce_mean_neg_axes", f_mean_neg, "ops.mean axes (-1,-2)", shape=(2, 3, 4, 5))
unary("reduce_mean_all", f_mean_all, "ops.mean over all axes -> scalar")
unary("reduce_sum_ext", f_sum, "ops.sum axis 1 (SumExt in 2.x)")
unary("reduce_sum_keep_neg", f_sum_keep_neg, "ops.sum axis -1 keepdim=True")
unary("reduce_sum_prim", f_reduce_sum_prim, "ops.ReduceSum primitive axes (0,2)")
unary("reduce_mean_prim", f_reduce_mean_prim, "ops.ReduceMean primitive keep_dims axis -1")
unary("reduce_max_prim", f_reduce_max_prim, "ops.ReduceMax primitive axis 1")
unary("amax_keep", f_amax, "ops.amax axis -1 keepdim")
unary("reduce_min_prim", f_reduce_min_prim, "ops.ReduceMin primitive keep_dims axes (1,2)")
unary("amin", f_amin, "ops.amin axis 0")
unary("reduce_prod", f_prod, "ops.prod axis 1")
unary("argmax_last", f_argmax, "ops.argmax axis -1 -> int")
unary("argmax_keepdim", f_argmax_keep, "ops.argmax axis 1 keepdim")
unary("argmin", f_argmin, "ops.argmin axis 1")
unary("mint_argmax_keepdim", f_mint_argmax_keep, "mint.argmax dim 1 keepdim=True (ArgMaxExt; ArgMinExt has no CPU kernel)")
unary("max_with_indices", f_max_with_idx, "ops.max(x, 1) -> (values, indices)")
unary("argmax_with_value", f_argmax_with_value, "ops.ArgMaxWithValue axis -1 -> (indices, values)")
unary("topk_last", f_topk, "ops.topk k=3 last axis -> (values, indices)", shape=(2, 3, 8))
unary("topk_dim1_smallest", f_topk_dim1_smallest, "ops.topk k=2 dim=1 largest=False", shape=(2, 6, 3))
unary("cumsum", f_cumsum, "ops.cumsum axis 1")
unary("cumsum_exclusive", f_cumsum_excl, "ops.CumSum exclusive=True axis 1")
unary("cumsum_reverse", f_cumsum_rev, "ops.CumSum reverse=True axis -1")
unary("cumsum_exclusive_reverse", f_cumsum_excl_rev, "ops.CumSum exclusive and reverse axis 0")
unary("cumprod", f_cumprod, "ops.cumprod axis 1")
unary("reduce_all_bool", f_all, "ops.all over a comparison axis 1 -> bool")
unary("reduce_any_bool", f_any, "ops.any over a comparison axis -1 -> bool")
unary("var", f_var, "ops.var axis -1")
unary("std", f_std, "ops.std axis -1")
unary("logsumexp", f_logsumexp, "ops.logsumexp axis -1")
unary("norm_l2", f_norm, "ops.norm p=2 axis -1")


# ---------------------------------------------------------------------------------------------
# Matmul
# ---------------------------------------------------------------------------------------------
def f_matmul(x, y):
    return ops.matmul(x, y)


def f_matmul_ta(x, y):
    return ops.MatMul(transpose_a=True)(x, y)


def f_matmul_tb(x, y):
    return ops.MatMul(transpose_b=True)(x, y)


def f_matmul_tab(x, y):
    return ops.MatMul(transpose_a=True, transpose_b=True)(x, y)


def f_bmm(x, y):
    return ops.BatchMatMul()(x, y)


def f_bmm_ta(x, y):
    return ops.BatchMatMul(transpose_a=True)(x, y)


def f_bmm_tb(x, y):
    return ops.BatchMatMul(transpose_b=True)(x, y)


def f_bmm_func(x, y):
    return ops.bmm(x, y)


def f_matmul_bcast(x, y):
    return ops.matmul(x, y)


def f_matmul_vec(x, y):
    return ops.matmul(x, y)


def f_matmul_op(x, y):
    return x @ y


binary("matmul", f_matmul, "ops.matmul 2-D", sa=(3, 4), sb=(4, 5))
binary("matmul_transpose_a", f_matmul_ta, "ops.MatMul transpose_a", sa=(4, 3), sb=(4, 5))
binary("matmul_transpose_b", f_matmul_tb, "ops.MatMul transpose_b", sa=(3, 4), sb=(5, 4))
binary("matmul_transpose_ab", f_matmul_tab, "ops.MatMul transpose_a and transpose_b", sa=(4, 3), sb=(5, 4))
binary("batchmatmul", f_bmm, "ops.BatchMatMul", sa=(2, 3, 4), sb=(2, 4, 5))
binary("batchmatmul_transpose_a", f_bmm_ta, "ops.BatchMatMul transpose_a", sa=(2, 4, 3), sb=(2, 4, 5))
binary("batchmatmul_transpose_b", f_bmm_tb, "ops.BatchMatMul transpose_b 4-D", sa=(2, 2, 3, 4), sb=(2, 2, 5, 4))
binary("bmm_functional", f_bmm_func, "ops.bmm", sa=(2, 3, 4), sb=(2, 4, 5))
binary(
    "matmul_bcast_batch",
    f_matmul_bcast,
    "ops.matmul with broadcast batch (2,1,3,4)x(3,4,5)",
    sa=(2, 1, 3, 4),
    sb=(3, 4, 5),
)
binary("matmul_3d_2d", f_matmul_op, "x @ W with x 3-D and W 2-D", sa=(2, 3, 4), sb=(4, 5))
binary("matmul_vec", f_matmul_vec, "ops.matmul matrix x vector", sa=(3, 4), sb=(4,))
layer("dense_bias", lambda: nn.Dense(16, 8), "nn.Dense with bias", (4, 16))
layer("dense_nobias", lambda: nn.Dense(16, 8, has_bias=False), "nn.Dense without bias", (4, 16))
layer("dense_relu", lambda: nn.Dense(16, 8, activation="relu"), "nn.Dense activation='relu'", (4, 16))
layer("dense_3d_input", lambda: nn.Dense(16, 8), "nn.Dense on a 3-D input (reshape around matmul)", (2, 5, 16))
layer("dense_1d_like", lambda: nn.Dense(16, 1, activation="sigmoid"), "nn.Dense to one output with sigmoid", (3, 16))


# ---------------------------------------------------------------------------------------------
# Misc: cast, select, one_hot, like, range, shape-dependent
# ---------------------------------------------------------------------------------------------
def f_cast_f16_roundtrip(x):
    return ops.cast(ops.cast(x, ms.float16), ms.float32)


def f_cast_to_int32(x):
    return ops.cast(x * 3.0, ms.int32)


def f_cast_bool_to_float(x):
    return ops.cast(x > 0.0, ms.float32)


def f_select(c, x, y):
    return ops.select(c, x, y)


def f_where_cmp(x, y):
    return ops.where(x > y, x, y * 2.0)


def f_where_scalar(x):
    return ops.where(x > 0.0, x, 0.0)


def f_masked_fill(x):
    return ops.masked_fill(x, x < 0.0, -1.0)


def f_one_hot(i):
    return ops.one_hot(i, 5, 1.0, 0.0, -1)


def f_one_hot_prim(i):
    return ops.OneHot(axis=-1)(i, 4, Tensor(2.0, ms.float32), Tensor(-1.0, ms.float32))


def f_zeros_like(x):
    return ops.zeros_like(x) + x


def f_ones_like(x):
    return ops.ones_like(x) - x


def f_zeros_like_only(x):
    return ops.zeros_like(x)


def f_range_add(x):
    return x + ops.arange(0, 8, 1, dtype=ms.float32)


def f_range_prim(x):
    return x + ops.range(Tensor(0.0, ms.float32), Tensor(4.0, ms.float32), Tensor(0.5, ms.float32))


def f_shape_reshape(x):
    return ops.reshape(x, (x.shape[0], -1))


def f_fill_like(x):
    return ops.full_like(x, 3.0) * x


def f_ones_shape(x):
    return x + ops.ones((2, 3), ms.float32)


def f_size_div(x):
    return x / x.shape[-1]


unary("cast_f32_f16_f32", f_cast_f16_roundtrip, "ops.cast float32 -> float16 -> float32")
unary("cast_f32_to_int32", f_cast_to_int32, "ops.cast float32 -> int32 (truncation toward zero)")
unary("cast_bool_to_f32", f_cast_bool_to_float, "ops.cast bool -> float32")


@case("select", "ops.select(cond, x, y) with a bool input")
def _(rng):
    return Fn(f_select), [rng.random((2, 3, 4)) > 0.5, R(rng, 2, 3, 4), R(rng, 2, 3, 4)]


binary("where_cmp", f_where_cmp, "ops.where(x > y, x, y*2)", sb=(2, 3, 4))
unary("where_scalar", f_where_scalar, "ops.where(x > 0, x, 0.0) with a scalar branch")
unary("masked_fill", f_masked_fill, "ops.masked_fill(x, x<0, -1)")


@case("one_hot", "ops.one_hot depth 5, int32 indices")
def _(rng):
    return Fn(f_one_hot), [rng.integers(0, 5, size=(2, 3)).astype(np.int32)]


@case("one_hot_prim_onoff", "ops.OneHot primitive depth 4, on 2.0 off -1.0")
def _(rng):
    return Fn(f_one_hot_prim), [rng.integers(0, 4, size=(5,)).astype(np.int32)]


unary("zeros_like", f_zeros_like, "ops.zeros_like(x) + x")
unary("zeros_like_only", f_zeros_like_only, "ops.zeros_like(x) as the output")
unary("ones_like", f_ones_like, "ops.ones_like(x) - x")
unary("full_like", f_fill_like, "ops.full_like(x, 3) * x")
unary("ones_const", f_ones_shape, "x + ops.ones((2,3))", shape=(2, 3))
unary("arange_add", f_range_add, "x + ops.arange(0, 8) (constant-folded or Range)", shape=(2, 8))
unary("range_tensor_args", f_range_prim, "x + ops.range with tensor start/limit/delta", shape=(2, 8))
unary("shape_reshape", f_shape_reshape, "reshape using x.shape[0]", shape=(3, 2, 4))
unary("div_by_dim", f_size_div, "x / x.shape[-1]", shape=(3, 4))


# ---------------------------------------------------------------------------------------------
# Other dtypes
# ---------------------------------------------------------------------------------------------
def f_f16_mix(x, y):
    return ops.relu(x * y + x) - ops.sigmoid(y)


def f_int_arith(x, y):
    return (x + y) * 3 - y


def f_int_reduce(x):
    return ops.sum(x, 1) + ops.max(x, 1)[0]


def f_int_div(x, y):
    return ops.floor_divide(x, y)


def f_int_cmp(x, y):
    return ops.logical_and(x > y, x != 0)


def f_int64_gather(x, i):
    return ops.gather(x, i, 0)


def f_bool_logic(a, b):
    return ops.logical_or(ops.logical_and(a, b), ops.logical_not(a))


def f_int64_cumsum(x):
    return ops.cumsum(x, 1)


def f_int64_to_f32(x):
    return ops.cast(x, ms.float32) * 0.5


@case("f16_elementwise", "float16 Mul/Add/ReLU/Sigmoid/Sub", rtol=1e-2, atol=1e-3)
def _(rng):
    return Fn(f_f16_mix), [R(rng, 2, 3, 4, dtype=np.float16), R(rng, 2, 3, 4, dtype=np.float16)]


@case("f16_conv2d", "nn.Conv2d with float16 weights and input", rtol=1e-2, atol=1e-3)
def _(rng):
    return Op(nn.Conv2d(3, 4, 3, has_bias=True, dtype=ms.float16)), [R(rng, 1, 3, 6, 6, dtype=np.float16)]


@case("f16_dense", "nn.Dense with float16 weights and input", rtol=1e-2, atol=1e-3)
def _(rng):
    return Op(nn.Dense(16, 8, dtype=ms.float16)), [R(rng, 4, 16, dtype=np.float16)]


@case("f16_softmax_layernorm", "float16 LayerNorm + Softmax", rtol=1e-2, atol=1e-3)
def _(rng):
    class N(nn.Cell):
        def __init__(self):
            super().__init__()
            self.ln = nn.LayerNorm((8,), dtype=ms.float16)

        def construct(self, x):
            return ops.softmax(self.ln(x), -1)

    return N(), [R(rng, 2, 3, 8, dtype=np.float16)]


@case("int32_arith", "int32 Add/Mul-by-scalar/Sub")
def _(rng):
    return Fn(f_int_arith), [
        rng.integers(-50, 50, (2, 3)).astype(np.int32),
        rng.integers(-50, 50, (3,)).astype(np.int32),
    ]


@case("int32_reduce", "int32 sum and max along axes")
def _(rng):
    return Fn(f_int_reduce), [rng.integers(-50, 50, (2, 3, 4)).astype(np.int32)]


@case("int32_floor_div", "int32 floor_divide with negative values")
def _(rng):
    b = rng.integers(1, 6, (2, 3)).astype(np.int32) * rng.choice([-1, 1], (2, 3)).astype(np.int32)
    return Fn(f_int_div), [rng.integers(-20, 20, (2, 3)).astype(np.int32), b]


@case("int32_compare_logic", "int32 comparisons and logical_and -> bool")
def _(rng):
    return Fn(f_int_cmp), [rng.integers(-3, 3, (2, 4)).astype(np.int32), rng.integers(-3, 3, (2, 4)).astype(np.int32)]


@case("int64_gather", "gather float table with int64 indices")
def _(rng):
    return Fn(f_int64_gather), [R(rng, 6, 3), rng.integers(0, 6, (2, 2)).astype(np.int64)]


@case("int64_arith", "int64 Add/Mul/Sub")
def _(rng):
    return Fn(f_int_arith), [
        rng.integers(-1000, 1000, (2, 3)).astype(np.int64),
        rng.integers(-1000, 1000, (3,)).astype(np.int64),
    ]


@case("int64_cumsum", "int64 cumsum")
def _(rng):
    return Fn(f_int64_cumsum), [rng.integers(-1000, 1000, (2, 5)).astype(np.int64)]


@case("int64_to_float", "cast int64 -> float32 and scale")
def _(rng):
    return Fn(f_int64_to_f32), [rng.integers(-1000, 1000, (2, 5)).astype(np.int64)]


@case("bool_logic", "bool inputs: logical_and/or/not")
def _(rng):
    return Fn(f_bool_logic), [rng.random((2, 5)) > 0.5, rng.random((2, 5)) > 0.5]


# ---------------------------------------------------------------------------------------------
# Sequence models
# ---------------------------------------------------------------------------------------------
layer(
    "lstm_1layer_batch_first",
    lambda: nn.LSTM(8, 16, 1, batch_first=True),
    "nn.LSTM 1 layer batch_first, zero initial state -> (output, (h, c))",
    (2, 5, 8),
)
layer(
    "gru_1layer_batch_first",
    lambda: nn.GRU(8, 16, 1, batch_first=True),
    "nn.GRU 1 layer batch_first -> (output, h)",
    (2, 5, 8),
)
layer("rnn_tanh_1layer", lambda: nn.RNN(8, 16, 1, batch_first=True), "nn.RNN tanh 1 layer batch_first", (2, 5, 8))
layer(
    "lstm_bidirectional",
    lambda: nn.LSTM(8, 8, 1, batch_first=True, bidirectional=True),
    "nn.LSTM bidirectional",
    (2, 4, 8),
)
layer("lstm_2layer", lambda: nn.LSTM(8, 8, 2, batch_first=False), "nn.LSTM 2 layers, seq-first", (4, 2, 8))
layer("gru_cell", lambda: nn.GRUCell(8, 16), "nn.GRUCell one step with given h", (2, 8), (2, 16))


@case("lstm_cell_tuple_state", "nn.LSTMCell called with (h, c) tuple, returns (h, c)")
def _(rng):
    class N(nn.Cell):
        def __init__(self):
            super().__init__()
            self.cell = nn.LSTMCell(8, 16)

        def construct(self, x, h, c):
            return self.cell(x, (h, c))

    return N(), [R(rng, 2, 8), R(rng, 2, 16), R(rng, 2, 16)]


# ---------------------------------------------------------------------------------------------
# Control flow
# ---------------------------------------------------------------------------------------------
class IfNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.d = nn.Dense(8, 8)

    def construct(self, x):
        if x.sum() > 0:
            y = self.d(x)
        else:
            y = x * 2.0 - 1.0
        return ops.relu(y)


class IfElifNet(nn.Cell):
    def construct(self, x):
        s = x.mean()
        if s > 0.2:
            y = x * 3.0
        elif s < -0.2:
            y = x - 1.0
        else:
            y = ops.tanh(x)
        return y


class WhileNet(nn.Cell):
    """Trip count depends on a tensor value: doubles x until its abs-sum exceeds a threshold."""

    def construct(self, x, limit):
        i = 0
        while x.abs().sum() < limit:
            x = x * 2.0
            i = i + 1
        return x


class WhileCounterNet(nn.Cell):
    """Trip count given by an int32 tensor input."""

    def construct(self, x, n):
        i = Tensor(0, ms.int32)
        while i < n:
            x = ops.sin(x) + x
            i = i + 1
        return x


class ForRangeNet(nn.Cell):
    def __init__(self):
        super().__init__()
        self.d = nn.Dense(8, 8)

    def construct(self, x):
        for _ in range(3):
            x = ops.tanh(self.d(x)) + x
        return x


class NestedIfInWhile(nn.Cell):
    def construct(self, x, n):
        i = Tensor(0, ms.int32)
        while i < n:
            if x.sum() > 0:
                x = x - 0.5
            else:
                x = x + 0.75
            i = i + 1
        return x


class IfTwoOutputs(nn.Cell):
    def construct(self, x, y):
        if x.max() > y.max():
            a = x + y
            b = x - y
        else:
            a = x * y
            b = y
        return a, b


@case("cf_if_tensor", "if on a tensor value, one branch calls Dense (Switch + Partial closures)")
def _(rng):
    return IfNet(), [R(rng, 2, 8) + 0.3]


@case("cf_if_tensor_else", "the same net as cf_if_tensor with an input that takes the else branch")
def _(rng):
    return IfNet(), [R(rng, 2, 8) - 1.0]


@case("cf_if_elif_else", "if/elif/else on a tensor value (middle branch taken)")
def _(rng):
    return IfElifNet(), [R(rng, 2, 4) * 0.1]


@case("cf_if_two_outputs", "if on tensor values, each branch returns two tensors")
def _(rng):
    return IfTwoOutputs(), [R(rng, 2, 3), R(rng, 2, 3)]


@case("cf_while_tensor_trip", "while loop whose trip count depends on tensor values (x doubles until |x|.sum >= limit)")
def _(rng):
    return WhileNet(), [R(rng, 2, 3) * 0.01, np.array(20.0, np.float32)]


@case("cf_while_counter", "while i < n with n an int32 scalar input (n=3)")
def _(rng):
    return WhileCounterNet(), [R(rng, 2, 3), np.array(3, np.int32)]


@case("cf_for_range_unrolled", "for over range(3) (unrolled at compile time) with a Dense inside")
def _(rng):
    return ForRangeNet(), [R(rng, 2, 8)]


@case("cf_nested_if_in_while", "if inside a while loop, n=4 iterations")
def _(rng):
    return NestedIfInWhile(), [R(rng, 2, 3) * 0.2, np.array(4, np.int32)]


# ---------------------------------------------------------------------------------------------
# Dynamic shapes: exported with -1 dimensions
# ---------------------------------------------------------------------------------------------
class DynBatchCNN(nn.Cell):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, pad_mode="same", has_bias=True)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.flat = nn.Flatten()
        self.d = nn.Dense(4, 5)

    def construct(self, x):
        return self.d(self.flat(self.pool(ops.relu(self.bn(self.c(x))))))


class DynSeqBlock(nn.Cell):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm((16,))
        self.q = nn.Dense(16, 16)
        self.k = nn.Dense(16, 16)

    def construct(self, x):
        h = self.ln(x)
        q = self.q(h)
        k = self.k(h)
        a = ops.softmax(ops.BatchMatMul(transpose_b=True)(q, k) * 0.25, -1)
        return ops.BatchMatMul()(a, h) + x


class DynBatchReshape(nn.Cell):
    def __init__(self):
        super().__init__()
        self.d = nn.Dense(12, 3)

    def construct(self, x):
        b = x.shape[0]
        y = ops.reshape(x, (b, -1))
        return self.d(y)


class DynMLP(nn.Cell):
    def __init__(self):
        super().__init__()
        self.d1 = nn.Dense(8, 16)
        self.d2 = nn.Dense(16, 4)

    def construct(self, x):
        return ops.softmax(self.d2(ops.gelu(self.d1(x))), -1)


@case("dyn_batch_cnn", "Conv2D+BatchNorm+ReLU+AdaptiveAvgPool+Dense exported with batch -1; stored input has batch 3")
def _(rng):
    return DynBatchCNN(), [R(rng, 3, 3, 8, 8)], [Tensor(shape=[None, 3, 8, 8], dtype=ms.float32)]


@case("dyn_seq_attention", "LayerNorm + Dense + BatchMatMul attention exported with sequence -1; stored seq 7")
def _(rng):
    return DynSeqBlock(), [R(rng, 2, 7, 16)], [Tensor(shape=[2, None, 16], dtype=ms.float32)]


@case("dyn_batch_seq_mlp", "Dense/GeLU/Softmax exported with batch and sequence both -1; stored (3,5,8)")
def _(rng):
    return DynMLP(), [R(rng, 3, 5, 8)], [Tensor(shape=[None, None, 8], dtype=ms.float32)]


@case("dyn_batch_shape_reshape", "reshape using x.shape[0] with batch -1 (Shape/TensorShape ops); stored batch 4")
def _(rng):
    return DynBatchReshape(), [R(rng, 4, 3, 4)], [Tensor(shape=[None, 3, 4], dtype=ms.float32)]


# ---------------------------------------------------------------------------------------------
# Primitives of mint / in-place operators / internal sequence ops (one primitive per case)
# ---------------------------------------------------------------------------------------------
def f_atan2(x, y): return ops.atan2(x, y)
def f_mint_max_dim(x): return mint.max(x, 1)
def f_mint_min_dim_keep(x): return mint.min(x, -1, True)
def f_mint_bmm(x, y): return mint.bmm(x, y)
def f_mint_narrow(x): return mint.narrow(x, 1, 1, 2)
def f_mint_transpose(x): return mint.transpose(x, 0, 2)
def f_dropout_keep1(x): return ops.Dropout(keep_prob=1.0)(x)[0]
def f_sequence_concat(x, y): return SequenceConcat(axis=0)((x, y))
def f_tensor_to_tuple(x, s): return ops.reshape(x, TensorToTuple()(s))


def f_inplace_adds(x):
    y = x * 2.0
    y += 1.5
    return y


def f_inplace_sub_scalar(x):
    y = x * 2.0
    y -= 1.5
    return y


def f_inplace_mul(x, z):
    y = x * 2.0
    y *= z
    return y


def f_inplace_muls(x):
    y = x + 1.0
    y *= 2.5
    return y


def f_inplace_div(x, z):
    y = x * 2.0
    y /= z
    return y


def f_inplace_divs(x):
    y = x + 1.0
    y /= 4.0
    return y


@case("atan2", "ops.atan2 (Atan2), other has zeros and negatives (all four quadrants and the axes)")
def _(rng):
    x, y = R(rng, 3, 8), R(rng, 3, 8)
    y[0, :4] = 0.0
    x[0, :2] = 0.0
    return Fn(f_atan2), [x, y]


unary("inplace_adds", f_inplace_adds, "`y += 1.5` on an intermediate (InplaceAddsExt)")
unary("inplace_sub_scalar", f_inplace_sub_scalar, "`y -= 1.5` on an intermediate (InplaceSubScalar)")
binary("inplace_mul", f_inplace_mul, "`y *= z` on an intermediate (InplaceMul)", sb=(2, 3, 4))
unary("inplace_muls", f_inplace_muls, "`y *= 2.5` on an intermediate (InplaceMuls)")
binary("inplace_div", f_inplace_div, "`y /= z` on an intermediate (InplaceDiv)", sb=(4,), lo_b=0.5, hi_b=2.0)
unary("inplace_divs", f_inplace_divs, "`y /= 4.0` on an intermediate (InplaceDivs)")
unary("mint_max_dim", f_mint_max_dim, "mint.max(x, 1) -> (values, indices) (MaxDim)", shape=(2, 5, 4))
unary("mint_min_dim_keepdim", f_mint_min_dim_keep, "mint.min(x, -1, True) -> (values, indices) (MinDim)")
binary("mint_bmm", f_mint_bmm, "mint.bmm (BatchMatMulExt)", sa=(2, 3, 4), sb=(2, 4, 5))
unary("mint_narrow", f_mint_narrow, "mint.narrow(x, 1, start=1, length=2) (NarrowView)", shape=(2, 5, 3))
unary("mint_transpose", f_mint_transpose, "mint.transpose(x, 0, 2) (TransposeExtView)", shape=(2, 3, 4))
unary("dropout_keep1", f_dropout_keep1, "ops.Dropout(keep_prob=1.0) primitive: output 0 (Dropout)")
binary("sequence_concat", f_sequence_concat, "SequenceConcat(axis=0) of a tuple of two (2, 3) tensors", sa=(2, 3), sb=(2, 3))
layer(
    "maxpool3d_valid",
    lambda: ops.MaxPool3D(kernel_size=(1, 2, 2), strides=(1, 2, 2), pad_mode="valid"),
    "ops.MaxPool3D kernel (1,2,2) stride (1,2,2) valid (MaxPool3D)",
    (1, 2, 3, 6, 6),
)
layer(
    "maxpool3d_same",
    lambda: ops.MaxPool3D(kernel_size=(1, 3, 3), strides=(1, 2, 2), pad_mode="same"),
    "ops.MaxPool3D kernel (1,3,3) stride (1,2,2) same, odd input (MaxPool3D)",
    (1, 2, 2, 7, 7),
)


@case("tensor_to_tuple_reshape", "Reshape to a shape given as an int64 tensor input (TensorToTuple)")
def _(rng):
    return Fn(f_tensor_to_tuple), [R(rng, 2, 3, 4), np.array([4, 6], np.int64)]


# Real-world model primitives, wrong results seen on small unseen models, special values: tools/_opcases_more.py.
import _opcases_more  # noqa: E402

_opcases_more.register(sys.modules[__name__])


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------
class StageError(Exception):
    def __init__(self, stage, err):
        super().__init__(str(err))
        self.stage = stage
        self.err = err


def run_case(name, spec, out_root):
    rng = np.random.default_rng(U.seed_for(name))
    ms.set_seed(U.seed_for(name) % 100000)
    built = spec["build"](rng)
    net, inputs = built[0], built[1]
    export_args = built[2] if len(built) > 2 else None
    # A reference cell (MindSpore computing a documented divergence, see _opcases_more.py's special
    # values) gives the stored outputs; MindSpore's own are kept next to them as mindspore_output_N.npy.
    reference = built[3] if len(built) > 3 else None
    net.set_train(False)
    U.randomise_parameters(net, rng)
    ms_inputs = [Tensor(a) for a in inputs]
    # A Parameter-updating primitive (ScatterNdAdd ...) changes the Parameter when the net runs: put the
    # values back so that the exported file holds the ones the stored outputs were computed from.
    before = {p.name: p.data.asnumpy().copy() for p in net.get_parameters()}
    try:
        out = net(*ms_inputs)
        outs = U.flatten_outputs(out)
    except Exception as e:
        raise StageError("run", e) from e
    for p in net.get_parameters():
        if not np.array_equal(p.data.asnumpy(), before[p.name]):
            p.set_data(Tensor(before[p.name]))
    d = os.path.join(out_root, name)
    tmpd = tempfile.mkdtemp(prefix="opcase_")
    base = os.path.join(tmpd, "model")
    try:
        ms.export(net, *(export_args if export_args is not None else ms_inputs), file_name=base, file_format="MINDIR")
    except Exception as e:
        raise StageError("export", e) from e
    inv = U.inventory(base + ".mindir")
    # Cross-check: MindSpore's own loader on the exported file must reproduce the stored outputs.
    try:
        g = nn.GraphCell(ms.load(base + ".mindir"))
        re_outs = U.flatten_outputs(g(*ms_inputs))
        reload_check = (
            "ok"
            if len(re_outs) == len(outs)
            and all(
                a.shape == b.shape and np.allclose(
                    a.astype(np.float64), b.astype(np.float64), rtol=1e-5, atol=1e-6, equal_nan=True
                )
                for a, b in zip(re_outs, outs)
            )
            else "MISMATCH"
        )
    except Exception as e:  # noqa: BLE001
        reload_check = "not checked: " + first_error_line(e)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    shutil.move(base + ".mindir", os.path.join(d, "model.mindir"))
    os.chmod(os.path.join(d, "model.mindir"), 0o644)
    shutil.rmtree(tmpd, ignore_errors=True)
    for i, a in enumerate(inputs):
        np.save(os.path.join(d, f"input_{i}.npy"), np.asarray(a))
    if reference is not None:
        for i, a in enumerate(outs):
            np.save(os.path.join(d, f"mindspore_output_{i}.npy"), a)
        outs = U.flatten_outputs(reference(*ms_inputs))
    for i, a in enumerate(outs):
        np.save(os.path.join(d, f"output_{i}.npy"), a)
    out_dtypes = [str(a.dtype) for a in outs]
    float_out = [t for t in out_dtypes if t.startswith("float")]
    if not float_out:
        rtol, atol = 0.0, 0.0
    elif any(t == "float16" for t in float_out):
        rtol, atol = U.tol_for("float16", spec["rtol"], spec["atol"])
    else:
        rtol, atol = spec["rtol"], spec["atol"]
    outputs_meta = []
    for a in outs:
        r_, a_ = U.tol_for(str(a.dtype), spec["rtol"], spec["atol"])
        outputs_meta.append({"shape": list(a.shape), "dtype": str(a.dtype), "rtol": r_, "atol": a_})
    inputs_meta = []
    for i, a in enumerate(inputs):
        m = {"shape": list(np.shape(a)), "dtype": str(np.asarray(a).dtype)}
        if inv["input_dims"] and i < len(inv["input_dims"]) and inv["input_dims"][i]:
            dims = inv["input_dims"][i][0]
            if any(x < 0 for x in dims):
                m["graph_shape"] = dims
        inputs_meta.append(m)
    dtypes = sorted(set(inv["dtypes"]) | set(out_dtypes) | {m["dtype"] for m in inputs_meta})
    main_dtype = inputs_meta[0]["dtype"] if inputs_meta else "float32"
    meta = {
        "name": name,
        "tier": "op",
        "dtype": main_dtype,
        "rtol": rtol,
        "atol": atol,
        **U.requirement_fields(inv, dtypes),
        "primitive_attributes": U.primitive_attributes(os.path.join(d, "model.mindir")),
        "calls": U.node_calls(os.path.join(d, "model.mindir")),
        "inputs": inputs_meta,
        "outputs": outputs_meta,
        "note": spec["note"],
        **({"expected": spec["expected"]} if reference is not None else {}),
        "mindspore_reload_check": reload_check,
        "mindspore": ms.__version__,
    }
    U.write_json(os.path.join(d, "case.json"), meta)
    return meta


def load_failures():
    if os.path.exists(FAILURES):
        with open(FAILURES) as f:
            return json.load(f)
    return {}


NOTES = """## Notes for kernel writers (observed in these 2.10.0 exports)

- **Attributes are inputs.** In 2.10 most former primitive attributes arrive as `Constant` node inputs, not as
  primitive attributes: `MatMul(a, b, transpose_a, transpose_b)`, `BiasAdd(x, b, format=0)`,
  `ReduceMean(x, axes, keep_dims)`, `SumExt(x, axes|None, keep_dims, dtype|None)`, `Softmax(x, (axis,))`,
  `CumSum(x, axis, exclusive, reverse)`, `ArgMaxWithValue(x, axis, keep_dims)`, `StridedSlice(x, begin, end,
  strides, begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask)`, `Split(x, axis, n)`,
  `Gather(x, idx, axis, batch_dims)`, `OneHot(idx, depth, on, off, axis)`, `LayerNorm(x, g, b,
  begin_norm_axis, begin_params_axis, eps)`, `BatchNorm(x, scale, bias, mean, var, is_training, eps, momentum,
  format)`, `GroupNorm(x, groups, g, b, eps)`, `ClampScalar(x, min, max)`, `ResizeBilinearV2(x, size,
  align_corners, half_pixel_centers)`, `PadV3(x, paddings, value|None)` (mode is a primitive attribute),
  `Cast(x, TypeId)` with MindSpore TypeId ints (34 int32, 35 int64, 42 float16, 43 float32).
  Conv2D, MaxPool, AvgPool, AdaptiveAvgPool2D, LSTM, L2Normalize, Conv2DTranspose still keep attributes on the
  primitive (`primitive_attributes` in each case.json; tuple attribute elements are stored in `ints`).
  The `calls` field of each case.json shows every kernel call with its constant arguments.
- **nn.Dense** exports as `MatMul(x, W, False, True)` + `BiasAdd`, followed by the activation primitive; on 3-D
  input with `Reshape` around it. `ops.matmul` / `@` exports as **MatMulExt** (also matrix x vector and broadcast
  batch); `ops.MatMul` as MatMul; `ops.bmm` / `ops.BatchMatMul` as BatchMatMul.
- **Scalars:** `x * 2.5` (operator) -> `Muls(x, 2.5)`; `ops.mul(x, 2.5)` -> `Mul(x, 0-d tensor)`; `x / 4.0` ->
  `Divs`; `x + 1.5`, `x - 1.5`, `1.0 - x` -> Add/Sub with a 0-d tensor constant; `1.0 / x` -> `Reciprocal` +
  `Muls`; `x / x.shape[-1]` -> Divs.
- **Pooling:** MaxPool2d with `pad_mode='pad'` or `ceil_mode=True` exports as `ExpandDims` +
  **MaxPool3DWithArgmax** (NCDHW, tuple output) + `Squeeze`; AvgPool2d with `pad_mode='pad'` as `ExpandDims` +
  **AvgPool3D** + `Squeeze`. valid/same use MaxPool/AvgPool. 1-D conv/pool are ExpandDims + 2-D op + Squeeze.
- **GeLU:** approximate/tanh -> `GeLU`; exact (`ops.gelu(approximate='none')`, `nn.GELU(approximate=False)`)
  is decomposed: Div by sqrt(2), Erf, Add 1, Mul, Mul 0.5.
- Decompositions: leaky_relu -> `Mul` + `Maximum`; clip_by_value -> Maximum/Minimum; clamp -> `ClampScalar`;
  softplus -> Softplus + Greater/Select (threshold 20); masked_fill -> `MaskedFill`; var/std -> `ReduceStd`
  (+Pow); norm -> `LpNorm`; prod -> `ProdExt`; `ops.sum` -> `SumExt`, `ops.ReduceSum` -> ReduceSum;
  topk on a non-last dim -> Transpose + TopK + Transpose, largest=False -> Neg around TopK;
  `ops.split` with sizes -> StridedSlices; `ops.max(x, axis)` -> ArgMaxWithValue; argmax -> `Argmax`.
- Padding: `ops.pad` -> `PadV3` (constant/reflect/edge by attribute); `nn.Pad` CONSTANT -> `Pad`, REFLECT ->
  `MirrorPad` with an int64 paddings tensor. Resize: `ops.interpolate` -> ResizeNearestNeighborV2 /
  ResizeBilinearV2; `ops.ResizeNearestNeighbor` keeps the old primitive.
- Recurrent: `nn.LSTM` -> one fused **LSTM** primitive (weights flattened/concatenated in the graph);
  `nn.GRU` / `nn.RNN` / GRUCell / LSTMCell are unrolled into MatMul/Add/Sigmoid/Tanh/Split/StridedSlice/Stack,
  with a lowercase `make_list` primitive in GRU/RNN.
- Control flow: `if` on a tensor -> `Switch` of two `Partial` closures and a call of the result; `while` ->
  recursive function graphs; a Python-int loop counter gives `ScalarAdd`; `x.sum()` -> SumExt.
- Nothing to compute: ops.identity / nn.Identity / zeros_like as output export with no kernel primitive (the
  graph output is the input or a Constant). `ops.arange` / `ops.range` with constant arguments are folded into a
  constant (no Range primitive).
- Dynamic shapes: `x.shape[0]` on a -1 dimension gives `Shape` + a tuple built in the graph + `Reshape(x, tuple)`.
- Constant node names may contain non-ASCII characters (e.g. a Cyrillic prefix in `фaxis`).
- mindcv ResNets / EfficientNet use `out += identity`, which exports as **InplaceAddExt(x, y, alpha=1)** (case
  inplace_add_residual); mindcv ViT splits q/k/v with **Unstack** (cases unstack_axis1, unbind_last) and
  tiles the class token with BroadcastTo. See tools/zoo_report.md.
"""


def write_report(out_root, failures):
    rows = []
    all_prims = {}
    for name in sorted(os.listdir(out_root)) if os.path.isdir(out_root) else []:
        p = os.path.join(out_root, name, "case.json")
        if not os.path.exists(p):
            continue
        with open(p) as f:
            m = json.load(f)
        for t in m["primitives"]:
            all_prims.setdefault(t, []).append(name)
        flags = []
        if m["requires"]["dynamic_shape"]:
            flags.append("dyn")
        if m["requires"]["control_flow"]:
            flags.append("cf")
        size = U.dir_size(os.path.join(out_root, name))
        calls = "; ".join(m.get("calls", []))
        calls = calls if len(calls) <= 400 else calls[:400] + " ..."
        rows.append(
            f"| {name} | {calls.replace('|', '/')} | {', '.join(m['requires']['dtypes'])} | "
            f"{' '.join(flags)} | {size} | {m['note']} |"
        )
    lines = [
        "# Op-level cases: primitive inventory",
        "",
        "Generated by `tools/make_op_cases.py` with MindSpore "
        + ms.__version__
        + " (CPU, GRAPH_MODE). The primitive op_types are read from each exported file's primitive table "
        "(bookkeeping Load/UpdateState/Depend/MakeTuple/TupleGetItem/Return left out).",
        "",
        f"Cases: {len(rows)}; total size {U.dir_size(out_root) if os.path.isdir(out_root) else 0} bytes.",
        "",
        "## Distinct primitives",
        "",
        "| op_type | cases |",
        "| --- | --- |",
    ]
    for t in sorted(all_prims):
        cs = all_prims[t]
        lines.append(f"| {t} | {len(cs)}: {', '.join(cs[:8])}{' ...' if len(cs) > 8 else ''} |")
    lines += ["", NOTES, "## Failures (not exported / refused by MindSpore)", ""]
    if failures:
        lines += ["| case | stage | error |", "| --- | --- | --- |"]
        for k in sorted(failures):
            v = failures[k]
            lines.append(f"| {k} | {v['stage']} | {v['error'].replace('|', '/')} |")
    else:
        lines.append("None.")
    lines += [
        "",
        "## Per case",
        "",
        "| case | kernel calls (x = tensor operand, other arguments are Constant inputs) | dtypes | flags | bytes | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ] + rows
    with open(REPORT, "w") as f:
        f.write("\n".join(lines) + "\n")


def first_error_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    s = [x for x in s if x.strip() and not x.startswith("-")]
    return f"{type(e).__name__}: {s[0][:300] if s else ''}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="case names (prefixes with a trailing *)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--refresh-meta", action="store_true",
                    help="only re-read existing files: refresh primitive_attributes/calls in case.json and the report")
    args = ap.parse_args()
    if args.refresh_meta:
        out_root = os.path.abspath(args.out)
        for name in sorted(os.listdir(out_root)):
            p = os.path.join(out_root, name, "case.json")
            if os.path.exists(p):
                with open(p) as f:
                    meta = json.load(f)
                mp = os.path.join(out_root, name, "model.mindir")
                meta["primitive_attributes"] = U.primitive_attributes(mp)
                meta["calls"] = U.node_calls(mp)
                U.write_json(p, meta)
        write_report(out_root, load_failures())
        return
    if args.list:
        for k, v in CASES.items():
            print(f"{k}: {v['note']}")
        return
    names = list(CASES)
    if args.only:
        sel = []
        for pat in args.only:
            if pat.endswith("*"):
                sel += [n for n in names if n.startswith(pat[:-1])]
            elif pat in CASES:
                sel.append(pat)
            else:
                sys.exit(f"unknown case {pat}")
        names = list(dict.fromkeys(sel))
    out_root = os.path.abspath(args.out)
    os.makedirs(out_root, exist_ok=True)
    work = tempfile.mkdtemp(prefix="ms_opcases_")
    os.chdir(work)  # MindSpore writes rank_0/ and analyze_fail.ir in the working directory
    failures = load_failures()
    ok = 0
    for name in names:
        stage = "build/run"
        try:
            meta = run_case(name, CASES[name], out_root)
            failures.pop(name, None)
            ok += 1
            print(f"OK   {name}: {', '.join(meta['primitives'])}", flush=True)
        except Exception as e:  # noqa: BLE001
            if isinstance(e, StageError):
                stage, e = e.stage, e.err
            failures[name] = {"stage": stage, "error": first_error_line(e), "note": CASES[name]["note"]}
            print(f"FAIL {name}: {first_error_line(e)}", flush=True)
            if os.environ.get("OPCASES_TRACE"):
                traceback.print_exc()
            d = os.path.join(out_root, name)
            if os.path.isdir(d):
                shutil.rmtree(d)
    # forget failures of cases that no longer exist
    failures = {k: v for k, v in failures.items() if k in CASES}
    U.write_json(FAILURES, failures)
    write_report(out_root, failures)
    print(f"{ok}/{len(names)} ok; {len(failures)} failures recorded; report {REPORT}")


if __name__ == "__main__":
    main()
