"""Decoding MindIR ``TensorProto`` and ``AttributeProto`` values into numpy / Python values.

Every check that can fail on a corrupt file happens here, *before* anything is allocated: the
element count implied by ``dims`` is compared with the bytes actually present.
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ._proto import mind_ir_pb2 as pb
from .errors import MindIRError
from .ir import TensorSpec

__all__ = [
    "DTYPES",
    "MONAD",
    "ExternalData",
    "Monad",
    "decode_attribute",
    "open_file",
    "open_regular",
    "spec_from_proto",
    "tensor_data",
]

_T = pb.TensorProto
_A = pb.AttributeProto

#: MindIR ``TensorProto.DataType`` -> numpy dtype name. bfloat16 is widened to float32 on load.
DTYPES: dict[int, str] = {
    _T.FLOAT: "float32",
    _T.UINT8: "uint8",
    _T.INT8: "int8",
    _T.UINT16: "uint16",
    _T.INT16: "int16",
    _T.INT32: "int32",
    _T.INT64: "int64",
    _T.BOOL: "bool",
    _T.FLOAT16: "float16",
    _T.DOUBLE: "float64",
    _T.UINT32: "uint32",
    _T.UINT64: "uint64",
    _T.COMPLEX64: "complex64",
    _T.COMPLEX128: "complex128",
    _T.BFLOAT16: "bfloat16",
    _T.FLOAT64: "float64",
}

#: Refuse tensors above this many bytes outright: no real model comes near, a corrupt header does.
_MAX_TENSOR_BYTES = 1 << 40


class Monad:
    """MindSpore's side-effect token (UMonad/IOMonad); the loader strips every use of it."""

    def __repr__(self) -> str:
        return "MONAD"


MONAD = Monad()


def dtype_name(code: int, where: str) -> str:
    try:
        return DTYPES[code]
    except KeyError:
        raise MindIRError(f"{where}: unknown tensor data_type {code}") from None


def _dims(t: Any, where: str, allow_dynamic: bool) -> tuple[int, ...] | None:
    dims = tuple(int(d) for d in t.dims)
    if dims == (-2,):  # MindSpore's marker for "rank unknown"
        return None
    for d in dims:
        if d < -1 or (d == -1 and not allow_dynamic):
            raise MindIRError(f"{where}: invalid dimension {d} in shape {list(dims)}")
    return dims


def spec_from_proto(t: Any, name: str, where: str) -> TensorSpec:
    """A TensorSpec from a data-less TensorProto (graph input, output abstract)."""
    dtype = dtype_name(t.data_type, where)
    if dtype == "bfloat16":
        dtype = "float32"
    return TensorSpec(name, _dims(t, where, allow_dynamic=True), dtype)


def open_file(path: Path, what: str, expect: str) -> BinaryIO:
    """``open(path, "rb")`` of a regular file, whose every failure is a one-line :class:`MindIRError`
    naming the file (``what`` names its kind, ``expect`` what to give instead of a folder)."""
    fh = os.fdopen(open_regular(path, what, expect), "rb")
    fh.raw.name = str(path)  # type: ignore[attr-defined]  # as open(path) would name it
    return fh


def open_regular(path: Path, what: str, expect: str = "") -> int:
    """A read-only descriptor of ``path``, which must be a regular file.

    Opened non-blocking and checked with ``fstat`` on the descriptor itself, so that a FIFO or a
    device is refused instead of blocking the load forever, and the file checked is the file read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise MindIRError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise MindIRError(f"{path}: is a directory; give the path of the {expect or what}") from None
    except (OSError, RuntimeError) as exc:
        raise MindIRError(f"{path}: cannot read the {what}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise MindIRError(f"{path}: is a directory; give the path of the {expect or what}")
        if not stat.S_ISREG(mode):
            raise MindIRError(f"{path}: the {what} is not a regular file (a FIFO or device); refusing to read it")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass
class ExternalData:
    """Resolves ``external_data`` locations, confined to the model's folder, one mmap per file."""

    model_path: Path

    def __post_init__(self) -> None:
        self._root = self.model_path.resolve().parent
        self._maps: dict[Path, mmap.mmap | memoryview] = {}

    def buffer(self, location: str, where: str) -> mmap.mmap | memoryview:
        if not location or os.path.isabs(location):
            raise MindIRError(f"{where}: external_data location {location!r} must be a path relative to the model file")
        try:
            target = (self._root / location).resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: "Symlink loop" (Python < 3.13)
            raise MindIRError(
                f"{where}: external_data location {location!r} cannot be resolved ({exc}); "
                "replace it with the weight file itself"
            ) from None
        if self._root not in target.parents:
            raise MindIRError(
                f"{where}: external_data location {location!r} leaves the model folder {self._root}; "
                "refusing to read it (move the weight files next to the model)"
            )
        if target not in self._maps:
            try:
                with open_file(target, f"external weight file (of {where})", "weight file") as fh:
                    self._maps[target] = self._map(fh, where)
            except (OSError, ValueError) as exc:  # ValueError: mmap of an empty file
                raise MindIRError(f"{where}: cannot map external weight file {target}: {exc}") from None
        return self._maps[target]

    def _map(self, fh: Any, where: str) -> mmap.mmap | memoryview:
        """The bytes of an opened weight file (overridden to decrypt the split layout's files)."""
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


def _bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    return (raw.astype(np.uint32) << 16).view(np.float32)


def tensor_data(t: Any, where: str, external: ExternalData | None) -> np.ndarray:
    """The array a TensorProto holds; a read-only view of the file bytes whenever possible."""
    dtype_str = dtype_name(t.data_type, where)
    if dtype_str == "bfloat16":
        return _bf16_to_f32(tensor_data_as(t, where, external, np.dtype(np.uint16)))
    return tensor_data_as(t, where, external, np.dtype(dtype_str))


def tensor_data_as(t: Any, where: str, external: ExternalData | None, dtype: np.dtype) -> np.ndarray:
    dims = _dims(t, where, allow_dynamic=False)
    if dims is None:
        raise MindIRError(f"{where}: a tensor with data cannot have unknown rank")
    count = 1
    for d in dims:
        count *= d
    nbytes = count * dtype.itemsize
    if nbytes > _MAX_TENSOR_BYTES:
        raise MindIRError(f"{where}: shape {list(dims)} asks for {nbytes} bytes; the file is corrupt")

    if t.HasField("external_data"):
        if external is None:
            raise MindIRError(f"{where}: external_data is not allowed here")
        ext = t.external_data
        buf = external.buffer(ext.location, where)
        if ext.offset < 0 or ext.length != nbytes or ext.offset + ext.length > len(buf):
            raise MindIRError(
                f"{where}: external_data (offset {ext.offset}, length {ext.length}) does not fit shape "
                f"{list(dims)} of {dtype} ({nbytes} bytes) in {ext.location!r} ({len(buf)} bytes)"
            )
        return np.frombuffer(buf, dtype=dtype, count=count, offset=ext.offset).reshape(dims)

    if t.HasField("raw_data"):
        raw = t.raw_data
        if len(raw) != nbytes:
            raise MindIRError(
                f"{where}: shape {list(dims)} of {dtype} needs {nbytes} bytes but raw_data has {len(raw)}"
            )
        arr = np.frombuffer(raw, dtype=dtype.newbyteorder("<"), count=count)
        if not arr.flags.aligned:  # zero-copy only where numpy can read it in place
            arr = arr.copy()
            arr.flags.writeable = False
        return arr.astype(dtype, copy=False).reshape(dims)

    for field, kind in (("float_data", "f"), ("int32_data", "i"), ("int64_data", "i"), ("double_data", "f")):
        values = getattr(t, field)
        if len(values):
            if len(values) != count:
                raise MindIRError(f"{where}: shape {list(dims)} needs {count} values but {field} has {len(values)}")
            return np.asarray(values).astype(dtype).reshape(dims)
    if count == 0:
        return np.zeros(dims, dtype=dtype)
    raise MindIRError(f"{where}: tensor of shape {list(dims)} has no data")


def _is_type_tensor(t: Any) -> bool:
    """MindSpore writes a *dtype* value as a TensorProto with a data_type and nothing else."""
    return not (
        len(t.dims)
        or t.HasField("raw_data")
        or t.HasField("external_data")
        or len(t.float_data)
        or len(t.int32_data)
        or len(t.int64_data)
        or len(t.double_data)
    )


def _scalar(a: Any, repeated: str, single: str, conv: Callable[[Any], Any]) -> Any:
    values = getattr(a, repeated)
    if len(values):
        return conv(values[0])
    return conv(getattr(a, single))


def decode_attribute(a: Any, where: str, external: ExternalData | None = None) -> Any:
    """A Python value for an AttributeProto: scalars, strings, tuples, tensors, dtypes, None, monads.

    Graph/closure values (only ever seen in output abstracts) decode to their graph name.
    """
    ty = a.type
    if ty in (_A.INT8, _A.INT16, _A.INT32, _A.INT64, _A.UINT8, _A.UINT16, _A.UINT32, _A.UINT64):
        return _scalar(a, "ints", "i", int)
    if ty == _A.BOOL:
        return _scalar(a, "ints", "i", bool)
    if ty in (_A.FLOAT, _A.FLOAT16, _A.BFLOAT16):
        return _scalar(a, "floats", "f", float)
    if ty == _A.DOUBLE:
        return _scalar(a, "doubles", "d", float)
    if ty == _A.STRING:
        raw = a.strings[0] if len(a.strings) else a.s
        return raw.decode("utf-8", "replace")
    if ty in (_A.TUPLE, _A.LIST):
        return tuple(decode_attribute(v, where, external) for v in a.values)
    if ty == _A.DICT:
        return {v.name: decode_attribute(v, where, external) for v in a.values}
    if ty in (_A.UMONAD, _A.IOMONAD):
        return MONAD
    if ty in (_A.NONE, _A.TYPE_NULL):
        return None
    if ty == _A.TENSOR:
        return _tensor_value(a.t, where, external)
    if ty == _A.TENSORS:
        if len(a.tensors) != 1:
            return tuple(_tensor_value(t, where, external) for t in a.tensors)
        return _tensor_value(a.tensors[0], where, external)
    if ty in (_A.FUNCGRAPHCLOSURE, _A.GRAPH):
        return a.s.decode("utf-8", "replace")
    if ty == _A.UNDEFINED and not a.ListFields()[1:]:
        return None
    type_name = _A.AttributeType.Name(ty) if ty in _A.AttributeType.values() else str(ty)
    raise MindIRError(f"{where}: attribute '{a.name}' has a value kind ({type_name}) this reader does not support")


def _tensor_value(t: Any, where: str, external: ExternalData | None) -> Any:
    if _is_type_tensor(t):
        name = dtype_name(t.data_type, where)
        return np.dtype("float32" if name == "bfloat16" else name)
    return tensor_data(t, where, external)
