"""Shape and layout primitives: Reshape, Transpose, Concat, Split, slices, Tile, Pad, Cast, shapes."""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer.ir import Node

from .._dtypes import to_numpy_dtype
from ..registry import Arg, Kernel, kernel, param, simple, unsupported
from ._util import as_array, axes


def _ints(value: Any) -> tuple[int, ...]:
    if isinstance(value, np.ndarray):
        return tuple(int(v) for v in value.reshape(-1))
    if isinstance(value, (int, np.integer)):
        return (int(value),)
    return tuple(int(np.asarray(v)) for v in value)


@kernel("Reshape", "View")
def build_reshape(node: Node, args: list[Arg]) -> Kernel:
    """Reshape to ``shape`` (a constant, a tuple with run-time items, or a shape tensor)."""
    if len(args) > 1 and args[1].known:
        shape = _ints(args[1].value)
        return lambda x, *_: np.reshape(x, shape)
    return lambda x, shape, *_: np.reshape(x, _ints(shape))


@simple("Flatten")
def flatten(x: Any) -> Any:
    """(N, -1)."""
    x = as_array(x)
    return x.reshape(x.shape[0] if x.ndim else 1, -1)


@simple("FlattenExt")
def flatten_ext(x: Any, start: Any = 0, end: Any = -1) -> Any:
    """Merge dims start..end."""
    x = as_array(x)
    if x.ndim == 0:
        return x.reshape(1)
    s, e = int(start) % x.ndim, int(end) % x.ndim
    return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1 :])


@kernel("Transpose", "TransposeView")
def build_transpose(node: Node, args: list[Arg]) -> Kernel:
    """Permute axes."""
    if len(args) > 1 and args[1].known:
        perm = _ints(args[1].value)
        return lambda x, *_: np.transpose(x, perm)
    return lambda x, perm, *_: np.transpose(x, _ints(perm))


@simple("TransposeExtView")
def transpose_ext_view(x: Any, dim0: Any, dim1: Any) -> Any:
    """mint.transpose: swap two axes."""
    return np.swapaxes(as_array(x), int(dim0), int(dim1))


@simple("ExpandDims", "ExpandDimsView")
def expand_dims(x: Any, axis: Any) -> Any:
    """Insert a size-1 axis."""
    return np.expand_dims(as_array(x), int(np.asarray(axis)))


@kernel("Squeeze")
def build_squeeze(node: Node, args: list[Arg]) -> Kernel:
    """Remove size-1 axes (all of them when ``axis`` is empty)."""
    axis = param(node, args, "axis")

    def run(x: Any, *_: Any) -> Any:
        x = as_array(x)
        ax = axes(axis, x.ndim)
        if ax is None:
            return np.squeeze(x)
        return np.squeeze(x, tuple(a for a in ax if x.shape[a] == 1))

    return run


def _same_dtype(items: Any) -> list[np.ndarray]:
    arrs = [as_array(t) for t in items]
    dt = np.result_type(*arrs)
    return [a.astype(dt, copy=False) for a in arrs]


@kernel("Concat", "SequenceConcat")
def build_concat(node: Node, args: list[Arg]) -> Kernel:
    """Concatenate a tuple of tensors along ``axis``."""
    axis = int(param(node, args, "axis"))
    return lambda tensors, *_: np.concatenate(_same_dtype(tensors), axis=axis)


@kernel("Stack", "StackExt")
def build_stack(node: Node, args: list[Arg]) -> Kernel:
    """Stack a tuple of tensors along a new ``axis``."""
    axis = int(param(node, args, "axis", "dim"))
    return lambda tensors, *_: np.stack(_same_dtype(tensors), axis=axis)


@kernel("Unstack", "UnstackExtView")
def build_unstack(node: Node, args: list[Arg]) -> Kernel:
    """Split along ``axis`` into size-1 pieces with that axis removed."""
    axis = int(param(node, args, "axis", "dim"))
    return lambda x, *_: tuple(np.moveaxis(as_array(x), axis, 0))


@kernel("Split")
def build_split(node: Node, args: list[Arg]) -> Kernel:
    """Split into ``output_num`` equal parts along ``axis``."""
    axis = int(param(node, args, "axis"))
    num = int(param(node, args, "output_num"))
    if num == 1 and len(node.outputs) == 1:
        # A one-piece Split (the tail of an uneven ops.split/chunk) reaches us with its single tuple item
        # as the node's output: return the piece itself, not a one-item tuple (which would become a
        # stacked array with a leading 1).
        return lambda x, *_: as_array(x)
    return lambda x, *_: tuple(np.split(as_array(x), num, axis=axis))


def _split_sizes(x: np.ndarray, sizes: Any, dim: int) -> tuple[np.ndarray, ...]:
    n = x.shape[dim]
    if isinstance(sizes, (int, np.integer)):
        sizes = [int(sizes)] * (n // int(sizes)) + ([n % int(sizes)] if n % int(sizes) else [])
    bounds = np.cumsum([int(s) for s in sizes])[:-1]
    return tuple(np.split(x, bounds, axis=dim))


@simple("SplitWithSize", "SplitWithSizeView", "SplitTensor", "SplitTensorView")
def split_with_size(x: Any, sizes: Any, dim: Any = 0) -> Any:
    """Split into pieces of the given size(s) along ``dim``."""
    x = as_array(x)
    return _split_sizes(x, sizes, int(dim) % x.ndim)


@simple("Chunk", "ChunkView")
def chunk(x: Any, chunks: Any, dim: Any = 0) -> Any:
    """Split into ``chunks`` pieces of ceil(n/chunks) along ``dim``."""
    x = as_array(x)
    d = int(dim) % x.ndim
    size = -(-x.shape[d] // int(chunks))
    return _split_sizes(x, size, d)


def strided_slice(
    x: np.ndarray, begin: Any, end: Any, strides: Any, bm: int, em: int, elm: int, nam: int, sam: int
) -> np.ndarray:
    """TensorFlow-style strided slice with begin/end/ellipsis/new-axis/shrink-axis masks."""
    begin, end, strides = _ints(begin), _ints(end), _ints(strides)
    index: list[Any] = []
    shrink: list[int] = []
    dim = 0
    n_spec = len(begin)
    for i in range(n_spec):
        if elm >> i & 1:
            # The ellipsis covers every dim that the remaining (non-new-axis) specs do not.
            rest = sum(1 for j in range(i + 1, n_spec) if not (nam >> j & 1))
            count = x.ndim - dim - rest
            index.extend([slice(None)] * count)
            dim += count
            continue
        if nam >> i & 1:
            index.append(None)
            continue
        if sam >> i & 1:
            b = begin[i]
            index.append(b)
            shrink.append(dim)
            dim += 1
            continue
        b = None if bm >> i & 1 else begin[i]
        e = None if em >> i & 1 else end[i]
        index.append(slice(b, e, strides[i]))
        dim += 1
    return x[tuple(index)]


@kernel("StridedSlice")
def build_strided_slice(node: Node, args: list[Arg]) -> Kernel:
    """x[begin:end:strides] with MindSpore's five masks."""
    masks = [
        int(param(node, args, name))
        for name in (("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"))
    ]
    if all(a.known for a in args[1:4]):
        b, e, s = (args[i].value for i in (1, 2, 3))
        return lambda x, *_: strided_slice(as_array(x), b, e, s, *masks)
    return lambda x, b, e, s, *_: strided_slice(as_array(x), b, e, s, *masks)


@simple("Slice")
def slice_(x: Any, begin: Any, size: Any) -> Any:
    """x[begin : begin+size] per axis (size -1 = to the end)."""
    x = as_array(x)
    idx = tuple(slice(b, None if s == -1 else b + s) for b, s in zip(_ints(begin), _ints(size)))
    return x[idx]


@simple("SliceExt", "SliceExtView")
def slice_ext(x: Any, dim: Any, start: Any, end: Any, step: Any = 1) -> Any:
    """x[start:end:step] along ``dim``."""
    x = as_array(x)
    idx = [slice(None)] * x.ndim
    idx[int(dim)] = slice(int(start), int(end), int(step))
    return x[tuple(idx)]


@simple("Narrow", "NarrowView")
def narrow(x: Any, dim: Any, start: Any, length: Any) -> Any:
    """x[start:start+length] along ``dim`` (the third argument is a length, not an end)."""
    return slice_ext(x, dim, start, int(start) + int(length))


@simple("Tile")
def tile(x: Any, multiples: Any) -> Any:
    """Repeat along each axis."""
    return np.tile(as_array(x), _ints(multiples))


@simple("BroadcastTo", "BroadcastToView", "ExpandAs")
def broadcast_to(x: Any, shape: Any) -> Any:
    """Broadcast (``-1`` keeps the input's size)."""
    x = as_array(x)
    target = _ints(shape) if not isinstance(shape, np.ndarray) or shape.ndim <= 1 else shape.shape
    lead = len(target) - x.ndim
    full = tuple(x.shape[i - lead] if d == -1 else d for i, d in enumerate(target))
    return np.broadcast_to(x, full)


@kernel("Cast")
def build_cast(node: Node, args: list[Arg]) -> Kernel:
    """Convert to the dtype named by input 1 (MindSpore type id or name)."""
    dt = to_numpy_dtype(param(node, args, "dtype"))
    if dt is None:
        raise unsupported(node, f"cast to {param(node, args, 'dtype')!r}")
    return lambda x, *_: np.asarray(x).astype(dt, copy=False)


@simple("Identity", "Contiguous", "StopGradient", "FormatCast")
def identity(x: Any, *_: Any) -> Any:
    """The input itself."""
    return x


@kernel("Dropout")
def build_dropout(node: Node, args: list[Arg]) -> Kernel:
    """Dropout(x, keep_prob, seed0, seed1) -> (output, mask): the identity at inference.

    nn.Dropout exports no primitive in eval mode; a file that has one was exported in training mode,
    and inference (like ONNX Dropout outside training and MindSpore Lite) drops nothing. The mask
    exists only in training: the compiler refuses a graph that reads it.
    """

    def run(x: Any, *_: Any) -> tuple[Any, None]:
        return x, None

    run.missing_outputs = (1,)  # type: ignore[attr-defined]
    return run


@simple("Shape")
def shape(x: Any) -> Any:
    """The shape as a tuple of Python ints (one output per dim)."""
    return tuple(int(d) for d in as_array(x).shape)


@simple("TensorShape")
def tensor_shape(x: Any) -> Any:
    """The shape as an int64 tensor."""
    return np.asarray(as_array(x).shape, np.int64)


@simple("Rank")
def rank(x: Any) -> Any:
    """Number of dims."""
    return as_array(x).ndim


@simple("ReverseV2")
def reverse(x: Any, axis: Any) -> Any:
    """Flip along ``axis``."""
    x = as_array(x)
    return np.flip(x, axes(axis, x.ndim))


_NUMPY_PAD_MODES = {
    "reflect": "reflect",
    "edge": "edge",
    "replicate": "edge",
    "symmetric": "symmetric",
    "circular": "wrap",
}


def _pad(x: np.ndarray, widths: list[tuple[int, int]], mode: str, value: Any) -> np.ndarray:
    if any(lo < 0 or hi < 0 for lo, hi in widths):
        # Negative padding crops.
        idx = tuple(slice(max(-lo, 0), x.shape[i] - max(-hi, 0)) for i, (lo, hi) in enumerate(widths))
        x = x[idx]
        widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        fill: Any = 0 if value is None else np.asarray(value).item()
        return np.pad(x, widths, mode="constant", constant_values=fill)
    np_mode: Any = _NUMPY_PAD_MODES[mode]
    return np.pad(x, widths, mode=np_mode)


def _torch_widths(ndim: int, pads: tuple[int, ...]) -> list[tuple[int, int]]:
    """torch-order pads (last dim first: left, right, top, bottom ...) to numpy widths."""
    widths = [(0, 0)] * ndim
    for k in range(len(pads) // 2):
        widths[ndim - 1 - k] = (pads[2 * k], pads[2 * k + 1])
    return widths


@kernel("PadV3", "ConstantPadND")
def build_pad_v3(node: Node, args: list[Arg]) -> Kernel:
    """Pad with torch-order paddings; mode constant, reflect, edge/replicate or circular."""
    pad_v3 = node.op == "PadV3"  # ConstantPadND has neither argument
    mode = str(param(node, args, "mode")).lower() if pad_v3 else "constant"
    if mode not in ("constant", "reflect", "edge", "replicate", "circular"):
        raise unsupported(node, f"mode {mode!r}")
    contiguous = bool(param(node, args, "paddings_contiguous")) if pad_v3 else True

    def run(x: Any, pads: Any, value: Any = None, *_: Any) -> Any:
        x = as_array(x)
        p = _ints(pads)
        if not contiguous:
            half = len(p) // 2
            p = tuple(v for pair in zip(p[:half], p[half:]) for v in pair)
        return _pad(x, _torch_widths(x.ndim, p), mode, value)

    return run


@kernel("Pad")
def build_pad(node: Node, args: list[Arg]) -> Kernel:
    """Zero padding with per-dim (before, after) ``paddings``."""
    widths = [tuple(int(v) for v in p) for p in param(node, args, "paddings")]
    return lambda x, *_: _pad(as_array(x), widths, "constant", 0)  # type: ignore[arg-type]


@kernel("MirrorPad")
def build_mirror_pad(node: Node, args: list[Arg]) -> Kernel:
    """REFLECT (edge not repeated) or SYMMETRIC (edge repeated) padding."""
    mode = str(param(node, args, "mode")).lower()
    if mode not in ("reflect", "symmetric"):
        raise unsupported(node, f"mode {mode!r}")
    return lambda x, pads, *_: _pad(as_array(x), [(int(p[0]), int(p[1])) for p in np.asarray(pads)], mode, None)


def _fill_dtype(dtype: Any, default: Any = np.float32) -> np.dtype:
    return to_numpy_dtype(dtype) or np.dtype(default)


@simple("ZerosLike", "ZerosLikeExt")
def zeros_like(x: Any, dtype: Any = None) -> Any:
    """Zeros of x's shape."""
    x = as_array(x)
    return np.zeros(x.shape, _fill_dtype(dtype, x.dtype))


@simple("OnesLike", "OnesLikeExt")
def ones_like(x: Any, dtype: Any = None) -> Any:
    """Ones of x's shape."""
    x = as_array(x)
    return np.ones(x.shape, _fill_dtype(dtype, x.dtype))


@simple("Zeros")
def zeros(size: Any, dtype: Any = None) -> Any:
    """Zeros of ``size``."""
    return np.zeros(_ints(size), _fill_dtype(dtype))


@simple("Ones")
def ones(size: Any, dtype: Any = None) -> Any:
    """Ones of ``size``."""
    return np.ones(_ints(size), _fill_dtype(dtype))


@simple("FillScalar")
def fill_scalar(size: Any, value: Any, dtype: Any = None) -> Any:
    """A tensor of ``size`` filled with ``value``."""
    v = np.asarray(value)
    return np.full(_ints(size), v, _fill_dtype(dtype, v.dtype if v.dtype.kind != "f" else np.float32))


@simple("FillTensor")
def fill_tensor(size: Any, value: Any, dtype: Any = None) -> Any:
    """A tensor of ``size`` filled with a 0-d tensor's value."""
    v = np.asarray(value)
    return np.full(_ints(size), v.reshape(()), _fill_dtype(dtype, v.dtype))


@simple("Fill")
def fill(dtype: Any, size: Any, value: Any) -> Any:
    """Old-style Fill(type, shape, value)."""
    return np.full(_ints(size), np.asarray(value), _fill_dtype(dtype))


@simple("Range")
def range_(start: Any, limit: Any, delta: Any, *_: Any) -> Any:
    """arange(start, limit, delta) in the inputs' dtype."""
    s = np.asarray(start)
    return np.arange(s.item(), np.asarray(limit).item(), np.asarray(delta).item()).astype(
        np.result_type(s, np.asarray(limit), np.asarray(delta))
    )


@simple("Arange")
def arange(start: Any, end: Any, step: Any, dtype: Any = None) -> Any:
    """arange(start, end, step); int64 for integer arguments unless ``dtype`` is given."""
    vals = [np.asarray(v).item() for v in (start, end, step)]
    dt = to_numpy_dtype(dtype) or (
        np.dtype(np.int64) if all(isinstance(v, int) for v in vals) else np.dtype(np.float32)
    )
    return np.arange(*vals).astype(dt)


@simple("ScalarToTensor")
def scalar_to_tensor(x: Any, dtype: Any = None) -> Any:
    """0-d tensor from a scalar."""
    return np.asarray(x, dtype=to_numpy_dtype(dtype))


@simple("TupleToTensor", "ListToTensor")
def tuple_to_tensor(x: Any, dtype: Any = None) -> Any:
    """1-d tensor from a tuple of scalars."""
    return np.asarray([np.asarray(v).item() for v in x], dtype=to_numpy_dtype(dtype))


@simple("TensorToTuple", "TensorToList")
def tensor_to_tuple(x: Any) -> Any:
    """Tuple of Python scalars from a 1-d tensor."""
    return tuple(np.asarray(x).tolist())


@simple("TensorToScalar")
def tensor_to_scalar(x: Any) -> Any:
    """Python scalar from a 0-d tensor."""
    return np.asarray(x).item()
