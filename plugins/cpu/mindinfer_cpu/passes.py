"""Graph passes run before planning: constant folding, no-op removal, conv/matmul epilogue fusion.

Passes work on a :class:`WorkGraph`, a private copy of one IR graph: nodes are copied before being
changed, so the user's :class:`mindinfer.ir.Model` is never modified.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from mindinfer.backend import plugin_message
from mindinfer.errors import MindInferError, UnsupportedOpError
from mindinfer.ir import CONTROL_FLOW_OPS, Const, Input, Node, Ref, TupleOf
from mindinfer.primitives import RUNTIME

from .kernels._epilogue import ACT, BIAS, LAYOUT, RESIDUAL
from .kernels.activation import INPLACE
from .kernels.norm import bn_scale_shift
from .layout import assign_layouts
from .registry import INTERNAL, KERNELS, PLUGIN, Arg
from .workgraph import WorkGraph, only_user

#: Folding stops producing constants larger than this (elements), to keep compiled models small.
MAX_FOLDED_ELEMENTS = 1 << 24


def build_kernel(node: Node, args: list[Arg]) -> Any:
    """Run a node's builder; errors other than UnsupportedOpError become one that names the node."""
    builder = KERNELS.get(node.op) or INTERNAL.get(node.op)
    if builder is None:
        raise UnsupportedOpError(node.op, node.name, PLUGIN, "no kernel registered")
    try:
        return builder(node, args)
    except MindInferError:
        raise
    except Exception as exc:  # a variant the builder did not anticipate: refuse, never guess
        raise UnsupportedOpError(
            node.op, node.name, PLUGIN, f"cannot build this variant ({type(exc).__name__}: {exc})"
        ) from exc


def fold_constants(wg: WorkGraph) -> None:
    """Evaluate, once, every node whose inputs are all compile-time values."""
    kept: list[Node] = []
    for node in wg.nodes:
        if node.op in CONTROL_FLOW_OPS:
            kept.append(node)
            continue
        args = wg.args(node)
        if not all(a.known for a in args):
            kept.append(node)
            continue
        fn = build_kernel(node, args)
        try:
            result = fn(*[a.value for a in args])
        except MindInferError:
            raise
        except Exception as exc:
            raise MindInferError(
                plugin_message(
                    PLUGIN, f"folding constant node '{node.name}' ({node.op}) failed: {type(exc).__name__}: {exc}"
                )
            ) from exc
        values = result if len(node.outputs) > 1 else (result,)
        if any(isinstance(v, np.ndarray) and v.size > MAX_FOLDED_ELEMENTS for v in values):
            kept.append(node)
            continue
        missing = getattr(fn, "missing_outputs", ())
        for i, (out, value) in enumerate(zip(node.outputs, values)):
            if i not in missing:
                wg.known[out] = value
        if any(i in missing for i in range(len(node.outputs))):
            kept.append(node)  # keep it so that a read of a missing output is still refused
    wg.nodes = kept


def _static_shape(wg: WorkGraph, item: Input) -> tuple[int, ...] | None:
    shape = wg.arg(item).shape
    return shape if shape is not None and all(d >= 0 for d in shape) else None


def remove_noops(wg: WorkGraph) -> None:
    """Drop Reshape to the same static shape, Cast to the same dtype, and identity primitives."""
    from ._dtypes import to_numpy_dtype

    kept: list[Node] = []
    for node in wg.nodes:
        src = node.inputs[0] if node.inputs else None
        if not isinstance(src, Ref) or len(node.outputs) != 1 or wg.resolve(src.name) in wg.known:
            kept.append(node)
            continue
        noop = False
        if node.op in ("Identity", "Contiguous", "StopGradient"):
            noop = True
        elif node.op == "Reshape":
            before = _static_shape(wg, src)
            after = node.out_specs[0].shape if node.out_specs and node.out_specs[0] is not None else None
            noop = before is not None and after is not None and tuple(before) == tuple(after)
        elif node.op == "Cast":
            spec = wg.specs.get(wg.resolve(src.name))
            target = to_numpy_dtype(node.const_input(1))
            noop = spec is not None and target is not None and spec.dtype == target.name
        if noop:
            wg.alias[node.outputs[0]] = wg.resolve(src.name)
        else:
            kept.append(node)
    wg.nodes = kept


def _arg(node: Node, args: list[Arg], name: str) -> Any:
    """Argument ``name`` as the kernels read it (core's signature: input or 1.x attribute, enums decoded),
    folded values included; :data:`RUNTIME` when only a run knows it (then the pass leaves the node alone)."""
    return node.arg(name, [a.value if a.known else RUNTIME for a in args])


def _off(value: Any) -> bool:
    """A flag known at compile time to be off (a run-time flag is never assumed off)."""
    return value is not RUNTIME and not value


def _reads_only_first(node: Node, users: dict[str, list[Node]], outputs: set[str]) -> bool:
    return all(not users.get(o) and o not in outputs for o in node.outputs[1:])


def fuse_epilogues(wg: WorkGraph) -> None:
    """Fold BiasAdd, inference BatchNorm and an activation into the Conv2D/MatMul before them."""
    users = wg.consumers()
    outputs = wg.output_names()
    removed: set[int] = set()
    replaced: dict[int, Node] = {}
    for idx, node in enumerate(wg.nodes):
        if node.op not in ("Conv2D", "MatMul") or id(node) in removed:
            continue
        args = wg.args(node)
        if len(args) < 2 or not args[1].known:
            continue
        is_conv = node.op == "Conv2D"
        if not is_conv and (not _off(_arg(node, args, "transpose_a")) or np.ndim(args[1].value) != 2):
            continue
        if np.asarray(args[1].value).dtype != np.float32:
            continue  # float16 weights keep their own precision path
        weight = np.asarray(args[1].value)
        if weight.ndim != (4 if is_conv else 2) or weight.size == 0:
            continue  # a malformed weight: the kernel builder refuses it with the node's name
        trans_b = False if is_conv else _arg(node, args, "transpose_b")
        if trans_b is RUNTIME:
            continue
        trans_b = bool(trans_b)
        n_out = weight.shape[0] if (is_conv or trans_b) else weight.shape[1]
        bias = np.zeros(n_out, np.float64)
        has_bias = False
        act = None
        fused = node
        cur = node.outputs[0]
        while True:
            user = only_user(wg, users, outputs, cur)
            if user is None:
                break
            uargs = wg.args(user)
            first = user.inputs[0]
            if not (isinstance(first, Ref) and wg.resolve(first.name) == cur):
                break
            if not all(np.size(a.value) == n_out for a in uargs[1:5] if a.known and isinstance(a.value, np.ndarray)):
                break  # per-channel operands that do not match the channels: never fold those
            if user.op == "BiasAdd" and uargs[1].known and _arg(user, uargs, "data_format") == "NCHW" and act is None:
                bias = bias + np.asarray(uargs[1].value, np.float64).reshape(-1)
                has_bias = True
            elif (
                user.op == "BatchNorm"
                and act is None
                and all(a.known for a in uargs[1:5])
                and _off(_arg(user, uargs, "is_training"))
                and _arg(user, uargs, "data_format") == "NCHW"
                and _arg(user, uargs, "epsilon") is not RUNTIME
                and _reads_only_first(user, users, outputs)
            ):
                eps = float(_arg(user, uargs, "epsilon"))
                s, t = bn_scale_shift(uargs[1].value, uargs[2].value, uargs[3].value, uargs[4].value, eps)
                # Scale in float64 and round once, so folding adds a single rounding step.
                shape = (-1, 1, 1, 1) if is_conv else (-1, 1) if trans_b else (1, -1)
                weight = (weight.astype(np.float64) * s.reshape(shape)).astype(np.float32)
                bias = bias * s + t
                has_bias = True
            elif user.op in INPLACE and act is None:
                act = user.op
            else:
                break
            removed.add(id(user))
            cur = user.outputs[0]
            if act is not None:
                break
        if cur == node.outputs[0]:
            continue
        inputs = list(node.inputs)
        inputs[1] = Const(weight, f"{node.name}.fused_weight")
        attrs = dict(node.attrs)
        if has_bias:
            attrs[BIAS] = bias.astype(np.float32)
        if act is not None:
            attrs[ACT] = act
        fused = replace(node, inputs=inputs, attrs=attrs, outputs=[cur], out_specs=[wg.specs.get(cur)])
        replaced[idx] = fused
    wg.nodes = [replaced.get(i, n) for i, n in enumerate(wg.nodes) if id(n) not in removed]


#: Additions a residual block ends with (MindSpore 2.x spells ``out += identity`` InplaceAddExt).
_ADDS = ("Add", "AddExt", "InplaceAddExt")


def fuse_residuals(wg: WorkGraph) -> None:
    """Fold a skip connection's Add, and an activation after it, into the NHWC convolution before it.

    ``relu(conv(x) + identity)`` then runs as one kernel that adds ``identity`` block by block while
    the convolution's output is in cache, instead of two more passes over memory (measured: resnet18
    b8 spent 3.2 of 86 ms in those Adds and ReLUs). Only dense NHWC convolutions (the ones that run as
    row-blocked matrix products), only a run-time ``identity`` of the same shape and dtype that exists
    before the convolution runs, and only alpha 1.
    """
    users = wg.consumers()
    outputs = wg.output_names()
    made_at = {out: i for i, node in enumerate(wg.nodes) for out in node.outputs}
    removed: set[int] = set()
    replaced: dict[int, Node] = {}
    for idx, node in enumerate(wg.nodes):
        if node.op != "Conv2D" or node.attrs.get(LAYOUT) != "NHWC" or ACT in node.attrs:
            continue
        if int(node.arg("group")) != 1 or not wg.arg(node.inputs[1]).known:
            continue
        conv_out = node.outputs[0]
        add = only_user(wg, users, outputs, conv_out)
        if add is None or add.op not in _ADDS or len(add.inputs) < 2:
            continue
        if add.op != "Add" and _arg(add, wg.args(add), "alpha") != 1:  # Add has no alpha; RUNTIME is not 1
            continue
        names = [wg.resolve(i.name) if isinstance(i, Ref) else None for i in add.inputs[:2]]
        if names.count(conv_out) != 1:
            continue
        other = names[1] if names[0] == conv_out else names[0]
        if other is None or other in wg.known or made_at.get(other, -1) >= idx:
            continue
        if add.op == "InplaceAddExt" and other == names[0] and only_user(wg, users, outputs, other) is not add:
            continue  # the update of a tensor read elsewhere is visible there: it keeps its own node
        conv_spec, res_spec = wg.specs.get(conv_out), wg.specs.get(other)
        if conv_spec is None or res_spec is None or conv_spec.shape is None or conv_spec.shape != res_spec.shape:
            continue
        if conv_spec.dtype != "float32" or res_spec.dtype != "float32":
            continue
        removed.add(id(add))
        attrs = dict(node.attrs)
        attrs[RESIDUAL] = True
        out = add.outputs[0]
        act = only_user(wg, users, outputs, out)
        if (
            act is not None
            and act.op in INPLACE
            and isinstance(act.inputs[0], Ref)
            and wg.resolve(act.inputs[0].name) == out
            and all(not isinstance(i, Ref) for i in act.inputs[1:])
        ):
            removed.add(id(act))
            attrs[ACT] = act.op
            out = act.outputs[0]
        replaced[idx] = replace(
            node, inputs=[*node.inputs, Ref(other)], attrs=attrs, outputs=[out], out_specs=[wg.specs.get(out)]
        )
    wg.nodes = [replaced.get(i, n) for i, n in enumerate(wg.nodes) if id(n) not in removed]


def optimize(wg: WorkGraph) -> WorkGraph:
    """All passes, in order."""
    fold_constants(wg)
    remove_noops(wg)
    fuse_epilogues(wg)
    assign_layouts(wg)
    fuse_residuals(wg)
    return wg


__all__ = [
    "TupleOf", "build_kernel", "fold_constants", "fuse_epilogues", "fuse_residuals", "optimize",
    "remove_noops",
]  # fmt: skip
