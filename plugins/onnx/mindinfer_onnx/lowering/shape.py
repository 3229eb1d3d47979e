"""Shape manipulation: reshape, transpose, slicing, joining, splitting, padding, resizing."""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer.ir import Const, Node, Ref, TupleOf

from .._graph import GraphBuilder
from ._base import (
    arg,
    as_tuple,
    const_arg,
    drop_extra_outputs,
    dtype_of,
    lowers,
    out,
    out_dtype,
    outs,
    rank_of,
    shape_of,
    x,
    xs,
)

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def _shape_input(b: GraphBuilder, node: Node, index: int) -> tuple[str, bool]:
    """A target shape (constant tuple, tuple of run-time scalars, or a tensor) as int64; and zero-present."""
    item = node.inputs[index] if index < len(node.inputs) else None
    if item is None or (isinstance(item, Const) and item.value is not None):
        param = node.signature.at(index) if node.signature is not None else None
        value = const_arg(b, node, param.name if param is not None else "shape")
        dims = as_tuple(value)
        return b.ints(dims, "shape"), 0 in dims
    if isinstance(item, TupleOf):
        parts = []
        for sub in item.items:
            if isinstance(sub, Const):
                parts.append(b.ints([int(sub.value)]))
            elif isinstance(sub, Ref):
                parts.append(b.op1("Reshape", [b.cast(b.lookup(sub.name), "int64"), b.ints([1])]))
            else:
                raise b.unsupported("nested tuple in a shape")
        return b.op1("Concat", parts, axis=0), False
    return b.cast(x(b, node, index), "int64"), False


@lowers("Reshape", "View")
def reshape(b: GraphBuilder, node: Node) -> None:
    """Reshape; -1 infers one dim. A 0 in MindSpore's shape is a real zero (allowzero)."""
    shape, zero = _shape_input(b, node, 1)
    out(b, node, b.op1("Reshape", [x(b, node, 0), shape], allowzero=1 if zero else None))


@lowers("Transpose", "TransposeView")
def transpose(b: GraphBuilder, node: Node) -> None:
    """Permute axes."""
    perm = [int(p) for p in as_tuple(const_arg(b, node, "dims", "input_perm"))]
    rank = len(perm)
    out(b, node, b.op1("Transpose", [x(b, node, 0)], perm=[p % rank if rank else p for p in perm]))


@lowers("TransposeExtView")
def transpose_ext_view(b: GraphBuilder, node: Node) -> None:
    """mint.transpose(input, dim0, dim1): swap two axes."""
    rank = rank_of(b, node, 0)
    perm = list(range(rank))
    d0, d1 = (int(const_arg(b, node, name)) % max(rank, 1) for name in ("dim0", "dim1"))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    out(b, node, b.op1("Transpose", [x(b, node, 0)], perm=perm))


@lowers("Flatten")
def flatten(b: GraphBuilder, node: Node) -> None:
    """Keep axis 0, flatten the rest."""
    out(b, node, b.op1("Flatten", [x(b, node, 0)], axis=1))


@lowers("FlattenExt")
def flatten_ext(b: GraphBuilder, node: Node) -> None:
    """Flatten axes start_dim..end_dim."""
    rank = rank_of(b, node, 0)
    if rank == 0:
        out(b, node, b.op1("Reshape", [x(b, node, 0), b.ints([1])]))
        return
    start = int(const_arg(b, node, "start_dim")) % rank
    end = int(const_arg(b, node, "end_dim")) % rank
    shape = [0] * start + [-1] + [0] * (rank - 1 - end)  # 0 copies the input dim (allowzero off)
    out(b, node, b.op1("Reshape", [x(b, node, 0), b.ints(shape)]))


@lowers("ExpandDims", "ExpandDimsView")
def expand_dims(b: GraphBuilder, node: Node) -> None:
    """Insert a unit axis."""
    axis = int(const_arg(b, node, "axis", "dim"))
    if axis < 0:
        axis += rank_of(b, node, 0) + 1
    out(b, node, b.unsqueeze(x(b, node, 0), [axis]))


@lowers("Squeeze")
def squeeze(b: GraphBuilder, node: Node) -> None:
    """Remove unit axes (all of them when the axis list is empty)."""
    axes = list(as_tuple(const_arg(b, node, "axis")))
    out(b, node, b.squeeze(x(b, node, 0), axes or None))


@lowers("Concat", "SequenceConcat")
def concat(b: GraphBuilder, node: Node) -> None:
    """Join tensors along an axis (SequenceConcat(tuple, axis) is the same)."""
    out(b, node, b.op1("Concat", xs(b, node, 0), axis=int(const_arg(b, node, "axis"))))


@lowers("Stack", "StackExt")
def stack(b: GraphBuilder, node: Node) -> None:
    """Join tensors along a new axis."""
    axis = int(const_arg(b, node, "axis", "dim"))
    parts = xs(b, node, 0)
    if axis < 0:
        axis += rank_of_tuple(b, node) + 1
    out(b, node, b.op1("Concat", [b.unsqueeze(p, [axis]) for p in parts], axis=axis))


def rank_of_tuple(b: GraphBuilder, node: Node) -> int:
    item = node.inputs[0]
    first = item.items[0] if isinstance(item, TupleOf) else item
    if isinstance(first, Ref):
        info = b.info(b.lookup(first.name))
        if info is not None and info.shape is not None:
            return len(info.shape)
    if isinstance(first, Const):
        return int(np.ndim(first.value))
    raise b.unsupported("the rank of the stacked tensors is not known")


def _split(b: GraphBuilder, node: Node, axis: int, sizes: list[int] | None) -> None:
    n = len(node.outputs)
    v = x(b, node, 0)
    if sizes is not None:
        names = b.op("Split", [v, b.ints(sizes)], n, axis=axis)
    elif b.opset >= 18:
        names = b.op("Split", [v], n, axis=axis, num_outputs=n)
    else:
        names = b.op("Split", [v], n, axis=axis)
    outs(b, node, names)


@lowers("Split")
def split(b: GraphBuilder, node: Node) -> None:
    """Split into output_num equal parts."""
    axis = int(const_arg(b, node, "axis"))
    shape = shape_of(b, node, 0)
    n = len(node.outputs)
    sizes = None
    if shape is not None and shape[axis] >= 0:
        if shape[axis] % n:
            raise b.unsupported(f"Split of {shape[axis]} into {n} unequal parts")
        sizes = [shape[axis] // n] * n
    _split(b, node, axis, sizes)


@lowers("SplitWithSize", "SplitWithSizeView")
def split_with_size(b: GraphBuilder, node: Node) -> None:
    """Split into parts of the given sizes."""
    sizes = list(as_tuple(const_arg(b, node, "split_size")))
    _split(b, node, int(const_arg(b, node, "dim")), sizes)


@lowers("SplitTensor", "SplitTensorView")
def split_tensor(b: GraphBuilder, node: Node) -> None:
    """Split into chunks of split_size (the last may be smaller)."""
    chunk = int(const_arg(b, node, "split_size"))
    axis = int(const_arg(b, node, "dim"))
    shape = shape_of(b, node, 0)
    if shape is None or shape[axis] < 0:
        raise b.unsupported("SplitTensor needs a static size along the split axis")
    total = shape[axis]
    _split(b, node, axis, [min(chunk, total - i) for i in range(0, total, chunk)])


@lowers("StridedSlice")
def strided_slice(b: GraphBuilder, node: Node) -> None:
    """Python-style slicing with begin/end/ellipsis/new-axis/shrink masks (constant arguments)."""
    begin = as_tuple(const_arg(b, node, "begin"))
    end = as_tuple(const_arg(b, node, "end"))
    strides = as_tuple(const_arg(b, node, "strides"))
    masks = [int(const_arg(b, node, name)) for name in _MASKS]
    begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_mask = masks
    rank = rank_of(b, node, 0)
    n_spec = len(begin)
    consuming = sum(1 for i in range(n_spec) if not (new_axis_mask >> i) & 1 and not (ellipsis_mask >> i) & 1)
    axes: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    steps: list[int] = []
    shrink_axes: list[int] = []
    new_positions: list[int] = []
    dim = 0
    out_pos = 0
    for i in range(n_spec):
        if (ellipsis_mask >> i) & 1:
            skip = rank - consuming
            dim += skip
            out_pos += skip
            continue
        if (new_axis_mask >> i) & 1:
            new_positions.append(out_pos)
            out_pos += 1
            continue
        step = strides[i]
        if step == 0:
            raise b.unsupported("StridedSlice with stride 0")
        if (shrink_mask >> i) & 1:
            s = begin[i]
            axes.append(dim)
            starts.append(s)
            ends.append(s + 1 if s != -1 else INT64_MAX)
            steps.append(1)
            shrink_axes.append(dim)
        else:
            full_start, full_end = (0, INT64_MAX) if step > 0 else (-1, INT64_MIN)
            s = full_start if (begin_mask >> i) & 1 else begin[i]
            e = full_end if (end_mask >> i) & 1 else end[i]
            axes.append(dim)
            starts.append(s)
            ends.append(e)
            steps.append(step)
            out_pos += 1
        dim += 1
    v = x(b, node, 0)
    if axes:
        v = b.op1("Slice", [v, b.ints(starts), b.ints(ends), b.ints(axes), b.ints(steps)])
    if shrink_axes:
        v = b.squeeze(v, shrink_axes)
    if new_positions:
        v = b.unsqueeze(v, new_positions)
    if v == x(b, node, 0):
        v = b.op1("Identity", [v])
    out(b, node, v)


_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


@lowers("Slice")
def slice_(b: GraphBuilder, node: Node) -> None:
    """x[begin : begin + size] per axis; size -1 runs to the end."""
    begin = as_tuple(const_arg(b, node, "begin"))
    size = as_tuple(const_arg(b, node, "size"))
    ends = [INT64_MAX if s == -1 else bg + s for bg, s in zip(begin, size)]
    axes = list(range(len(begin)))
    out(b, node, b.op1("Slice", [x(b, node, 0), b.ints(begin), b.ints(ends), b.ints(axes)]))


@lowers("ReverseV2")
def reverse(b: GraphBuilder, node: Node) -> None:
    """Reverse along the given axes (a slice with step -1)."""
    axes = list(as_tuple(const_arg(b, node, "axis")))
    n = len(axes)
    out(
        b,
        node,
        b.op1("Slice", [x(b, node, 0), b.ints([-1] * n), b.ints([INT64_MIN] * n), b.ints(axes), b.ints([-1] * n)]),
    )


@lowers("Gather", "GatherV2")
def gather(b: GraphBuilder, node: Node) -> None:
    """Take indices along axis (batch_dims 0)."""
    axis = int(const_arg(b, node, "axis"))
    if node.op == "Gather" and int(const_arg(b, node, "batch_dims")):  # GatherV2 has none
        raise b.unsupported("Gather with batch_dims != 0 is not supported")
    out(b, node, b.op1("Gather", [x(b, node, 0), x(b, node, 1)], axis=axis))


@lowers("GatherD")
def gather_d(b: GraphBuilder, node: Node) -> None:
    """out[i][j] = x[index[i][j]][j] along dim (GatherElements)."""
    dim = int(const_arg(b, node, "dim"))
    out(b, node, b.op1("GatherElements", [x(b, node, 0), x(b, node, 2)], axis=dim))


@lowers("Tile")
def tile(b: GraphBuilder, node: Node) -> None:
    """Repeat along each axis; extra leading multiples add axes."""
    reps = list(as_tuple(const_arg(b, node, "dims")))
    v = x(b, node, 0)
    rank = rank_of(b, node, 0)
    if len(reps) > rank:
        v = b.unsqueeze(v, list(range(len(reps) - rank)))
    elif len(reps) < rank:
        reps = [1] * (rank - len(reps)) + reps
    out(b, node, b.op1("Tile", [v, b.ints(reps)]))


@lowers("BroadcastTo", "BroadcastToView")
def broadcast_to(b: GraphBuilder, node: Node) -> None:
    """Broadcast to a shape; -1 keeps the input's dim."""
    shape = [1 if d == -1 else d for d in as_tuple(const_arg(b, node, "shape"))]
    out(b, node, b.op1("Expand", [x(b, node, 0), b.ints(shape)]))


@lowers("Pad")
def pad(b: GraphBuilder, node: Node) -> None:
    """Zero padding with ((before, after), ...) per axis."""
    pairs = [as_tuple(p) for p in const_arg(b, node, "paddings")]
    _emit_pad(b, node, [p[0] for p in pairs] + [p[1] for p in pairs], "constant", None)


@lowers("PadV3")
def pad_v3(b: GraphBuilder, node: Node) -> None:
    """torch-style pad: (left, right, top, bottom, ...) from the last axis backwards."""
    flat = list(as_tuple(const_arg(b, node, "paddings")))
    if not const_arg(b, node, "paddings_contiguous"):
        raise b.unsupported("PadV3 with non-contiguous paddings is not supported")
    rank = rank_of(b, node, 0)
    before, after = [0] * rank, [0] * rank
    for k in range(len(flat) // 2):
        before[rank - 1 - k], after[rank - 1 - k] = flat[2 * k], flat[2 * k + 1]
    mode = str(const_arg(b, node, "mode")).lower()
    value = arg(node, "constant_value")
    _emit_pad(b, node, before + after, mode, value)


@lowers("MirrorPad")
def mirror_pad(b: GraphBuilder, node: Node) -> None:
    """Reflect padding (SYMMETRIC, which repeats the edge, has no ONNX equivalent)."""
    mode = str(const_arg(b, node, "mode")).upper()
    if mode != "REFLECT":
        raise b.unsupported(f"MirrorPad mode {mode} has no ONNX equivalent")
    pairs = np.asarray(const_arg(b, node, "paddings")).reshape(-1, 2)
    _emit_pad(b, node, [int(p) for p in pairs[:, 0]] + [int(p) for p in pairs[:, 1]], "reflect", None)


def _emit_pad(b: GraphBuilder, node: Node, pads: list[int], mode: str, value: Any) -> None:
    onnx_mode = {"constant": "constant", "reflect": "reflect", "edge": "edge", "replicate": "edge"}.get(mode)
    if onnx_mode is None:
        raise b.unsupported(f"padding mode '{mode}' is not supported")
    if any(p < 0 for p in pads):
        raise b.unsupported("negative padding (cropping) is not supported")
    ins = [x(b, node, 0), b.ints(pads)]
    if onnx_mode == "constant" and value is not None:
        ins.append(x(b, node, 2, dtype_of(b, node, 0)))
    out(b, node, b.op1("Pad", ins, mode=onnx_mode))


def _resize(b: GraphBuilder, node: Node, mode: str, align: bool, half_pixel: bool) -> None:
    size = as_tuple(const_arg(b, node, "size"))
    v = x(b, node, 0)
    if half_pixel:
        transform = "half_pixel"
    else:
        transform = "align_corners" if align else "asymmetric"
    # half_pixel + round_prefer_ceil is floor((dst + 0.5) * in / out), TF's half-pixel-centers rule.
    nearest = ("round_prefer_ceil" if align or half_pixel else "floor") if mode == "nearest" else None
    lead = b.op1("Slice", [b.op1("Shape", [v]), b.ints([0]), b.ints([2])])
    sizes = b.op1("Concat", [lead, b.ints(size)], axis=0)
    out(
        b,
        node,
        b.op1("Resize", [v, "", "", sizes], mode=mode, coordinate_transformation_mode=transform, nearest_mode=nearest),
    )


def _resize_as(b: GraphBuilder, node: Node, mode: str, legacy_op: str) -> None:
    """Resize in either export form: the 1.x primitives (``legacy_op``) carry size and flags as
    attributes, the 2.x ``...V2`` primitives take them as inputs."""
    align = bool(const_arg(b, node, "align_corners"))
    half = bool(const_arg(b, node, "half_pixel_centers"))
    _resize(b, node, mode, align, half)


@lowers("ResizeNearestNeighborV2", "ResizeNearestNeighbor")
def resize_nearest(b: GraphBuilder, node: Node) -> None:
    """Nearest-neighbour resize of the two spatial axes to a constant size."""
    _resize_as(b, node, "nearest", "ResizeNearestNeighbor")


@lowers("ResizeBilinearV2", "ResizeBilinear")
def resize_bilinear(b: GraphBuilder, node: Node) -> None:
    """Bilinear resize of the two spatial axes to a constant size."""
    _resize_as(b, node, "linear", "ResizeBilinear")


@lowers("OneHot", "OneHotExt")
def one_hot(b: GraphBuilder, node: Node) -> None:
    """One-hot encoding along axis with on/off values (out-of-range indices give all off)."""
    axis = int(const_arg(b, node, "axis"))
    depth = b.ints([int(const_arg(b, node, "depth", "num_classes"))])
    dt = out_dtype(node)
    values = b.op1("Concat", [b.op1("Reshape", [x(b, node, i, dt), b.ints([1])]) for i in (3, 2)], axis=0)
    # onnxruntime implements OneHot for int64 indices (not int32) with int64 depth.
    indices = b.cast(x(b, node, 0), "int64")
    out(b, node, b.op1("OneHot", [indices, depth, values], axis=axis))


@lowers("Dropout")
def dropout(b: GraphBuilder, node: Node) -> None:
    """Identity at inference."""
    out(b, node, b.op1("Identity", [x(b, node, 0)]))
    drop_extra_outputs(b, node, 1, "the dropout mask exists only in training")


@lowers("TensorShape")
def tensor_shape(b: GraphBuilder, node: Node) -> None:
    """The shape as an int64 tensor."""
    out(b, node, b.cast(b.op1("Shape", [x(b, node, 0)]), "int64"))


@lowers("SliceExt", "SliceExtView")
def slice_ext(b: GraphBuilder, node: Node) -> None:
    """input[start:end:step] along dim."""
    dim = int(const_arg(b, node, "dim"))
    start, end, step = (int(const_arg(b, node, n)) for n in ("start", "end", "step"))
    out(b, node, b.op1("Slice", [x(b, node, 0), b.ints([start]), b.ints([end]), b.ints([dim]), b.ints([step])]))


@lowers("NarrowView", "Narrow")
def narrow(b: GraphBuilder, node: Node) -> None:
    """input[start:start+length] along dim."""
    dim = int(const_arg(b, node, "dim"))
    start, length = int(const_arg(b, node, "start")), int(const_arg(b, node, "length"))
    out(b, node, b.op1("Slice", [x(b, node, 0), b.ints([start]), b.ints([start + length]), b.ints([dim])]))


@lowers("Chunk", "ChunkView")
def chunk(b: GraphBuilder, node: Node) -> None:
    """Split into chunks of ceil(n / chunks) (as many outputs as the export has)."""
    chunks = int(const_arg(b, node, "chunks"))
    axis = int(const_arg(b, node, "dim"))
    shape = shape_of(b, node, 0)
    if shape is None or shape[axis] < 0:
        raise b.unsupported("Chunk needs a static size along the split axis")
    total = shape[axis]
    size = -(-total // chunks)
    _split(b, node, axis, [min(size, total - i) for i in range(0, total, size)])


@lowers("Unstack", "UnstackExtView")
def unstack(b: GraphBuilder, node: Node) -> None:
    """Split into unit slices along axis and drop that axis."""
    axis = int(const_arg(b, node, "axis", "dim"))
    n = len(node.outputs)
    parts = b.op("Split", [x(b, node, 0), b.ints([1] * n)], n, axis=axis)
    outs(b, node, [b.squeeze(p, [axis]) for p in parts])


@lowers("ExpandAs")
def expand_as(b: GraphBuilder, node: Node) -> None:
    """Broadcast input to other's shape."""
    out(b, node, b.op1("Expand", [x(b, node, 0), b.op1("Shape", [x(b, node, 1)])]))


@lowers("Zeros", "Ones", "FillScalar", "FillTensor", "Fill")
def fill(b: GraphBuilder, node: Node) -> None:
    """A tensor of the given shape filled with a value."""
    dt = out_dtype(node)
    if node.op == "Fill":  # Fill(type, shape, value)
        shape, _ = _shape_input(b, node, 1)
        value = x(b, node, 2, dt)
    else:
        shape, _ = _shape_input(b, node, 0)
        value = b.const({"Zeros": 0, "Ones": 1}[node.op], dt) if node.op in ("Zeros", "Ones") else x(b, node, 1, dt)
    out(b, node, b.op1("Expand", [b.op1("Reshape", [value, b.ints([])]), shape]))


@lowers("Range", "Arange")
def range_(b: GraphBuilder, node: Node) -> None:
    """start, start + step, ... below end."""
    dt = out_dtype(node)
    ins = [b.op1("Reshape", [x(b, node, i, dt), b.ints([])]) for i in range(3)]
    out(b, node, b.op1("Range", ins))


@lowers("ConstantPadND")
def constant_pad_nd(b: GraphBuilder, node: Node) -> None:
    """torch-style constant pad (left, right, top, bottom, ...) from the last axis backwards."""
    flat = list(as_tuple(const_arg(b, node, "padding")))
    rank = rank_of(b, node, 0)
    before, after = [0] * rank, [0] * rank
    for k in range(len(flat) // 2):
        before[rank - 1 - k], after[rank - 1 - k] = flat[2 * k], flat[2 * k + 1]
    _emit_pad(b, node, before + after, "constant", arg(node, "value"))


@lowers("IndexSelect")
def index_select(b: GraphBuilder, node: Node) -> None:
    """Take indices along dim."""
    out(b, node, b.op1("Gather", [x(b, node, 0), x(b, node, 2)], axis=int(const_arg(b, node, "dim"))))


@lowers("GatherNd")
def gather_nd(b: GraphBuilder, node: Node) -> None:
    """Gather slices by index tuples in the last axis of indices."""
    out(b, node, b.op1("GatherND", [x(b, node, 0), b.cast(x(b, node, 1), "int64")]))


@lowers("Embedding")
def embedding(b: GraphBuilder, node: Node) -> None:
    """weight[input] (max_norm renormalization is refused)."""
    if arg(node, "max_norm") is not None:
        raise b.unsupported("Embedding with max_norm is not supported")
    out(b, node, b.op1("Gather", [x(b, node, 1), x(b, node, 0)], axis=0))


@lowers("UpsampleNearest2D", "UpsampleBilinear2D")
def upsample(b: GraphBuilder, node: Node) -> None:
    """mint interpolate to output_size (or by scales)."""
    nearest = node.op == "UpsampleNearest2D"
    size = arg(node, "output_size")
    scales = arg(node, "scales")
    align = False if nearest else bool(const_arg(b, node, "align_corners"))
    v = x(b, node, 0)
    transform = "asymmetric" if nearest else ("align_corners" if align else "pytorch_half_pixel")
    kw = {
        "mode": "nearest" if nearest else "linear",
        "coordinate_transformation_mode": transform,
        "nearest_mode": "floor" if nearest else None,
    }
    if size is not None:
        lead = b.op1("Slice", [b.op1("Shape", [v]), b.ints([0]), b.ints([2])])
        sizes = b.op1("Concat", [lead, b.ints(as_tuple(size))], axis=0)
        out(b, node, b.op1("Resize", [v, "", "", sizes], **kw))
    elif scales is not None:
        s = np.asarray([1.0, 1.0, *[float(f) for f in scales]], dtype=np.float32)
        out(b, node, b.op1("Resize", [v, "", b.const(s)], **kw))
    else:
        raise b.unsupported("interpolation needs output_size or scales")
