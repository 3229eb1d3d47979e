"""Checkpoints on top of a MindIR: ``mindinfer.load(path, checkpoint="net.ckpt")``.

Two formats, as ``mindspore.save_checkpoint`` writes them:

* ``.ckpt``: a series of serialized ``Checkpoint`` protobuf messages (our own
  ``_proto/checkpoint.proto``), one per parameter slice; slices of one parameter are consecutive and
  concatenate. ``crc_check=True`` appends ``b"crc_num"`` and a 10-byte big-endian CRC-32, checked here.
* ``.safetensors`` (``format="safetensors"``): read from its documented layout (8-byte header length,
  JSON header, data) through one ``mmap`` so that every aligned tensor is a zero-copy view of the file;
  the ``safetensors`` package would copy each tensor out. MindSpore's ``crc_num`` metadata is checked.

Entries are matched to the graph's parameters by name, then through one network prefix on either side
(``backbone.conv.weight`` in a training checkpoint for ``conv.weight`` in the MindIR, the rule of
``mindspore.load_param_into_net``). Optimizer and training state (``moments.*``, ``learning_rate`` ...)
is recognised and ignored; anything else unused is listed in the :class:`CheckpointReport`.
"""

from __future__ import annotations

import dataclasses
import json
import mmap
import os
import struct
import warnings
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError

from ._proto import checkpoint_pb2
from ._tensors import open_file
from .errors import MindIRError
from .ir import Graph, Model, Parameter

__all__ = ["CheckpointReport", "CheckpointWarning", "apply_checkpoint", "read_checkpoint"]


class CheckpointWarning(UserWarning):
    """A checkpoint left parameters at the MindIR's values (``strict=False``) or had unused entries."""


#: ``tensor_type`` strings of MindSpore's .ckpt -> numpy dtype names (BFloat16 is widened, as the loader does).
_CKPT_DTYPES = {
    "Float16": "float16", "Float32": "float32", "Float64": "float64", "BFloat16": "bfloat16",
    "Int8": "int8", "Int16": "int16", "Int32": "int32", "Int64": "int64",
    "UInt8": "uint8", "UInt16": "uint16", "UInt32": "uint32", "UInt64": "uint64", "Bool": "bool",
}  # fmt: skip
_ST_DTYPES = {
    "F16": "float16", "F32": "float32", "F64": "float64", "BF16": "bfloat16",
    "I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64",
    "U8": "uint8", "U16": "uint16", "U32": "uint32", "U64": "uint64", "BOOL": "bool",
}  # fmt: skip
_CRC_MARK = b"crc_num"
# Training state that MindSpore optimizers, loss scalers and callbacks put into checkpoints.
_STATE_PREFIXES = (
    "moments.", "moment1.", "moment2.", "adam_m.", "adam_v.", "accum.", "accu_grads.", "mean_grad.",
    "mean_square.", "linear.", "grad_accumulation.", "vhat.",
)  # fmt: skip
_STATE_NAMES = {
    "global_step", "learning_rate", "momentum", "beta1_power", "beta2_power", "epoch_num", "step_num",
    "scale_sense", "loss_scale", "current_iterator_step", "last_overflow_iterator_step", "weight_decay",
}  # fmt: skip
_LIST_MAX = 8


@dataclass(frozen=True)
class CheckpointReport:
    """What a checkpoint did to a model (``model.checkpoint`` after ``load(..., checkpoint=...)``).

    ``applied``: parameters that took the checkpoint's values. ``kept``: parameters the checkpoint has
    no value for, which kept the MindIR's (only with ``strict=False``). ``unused``: checkpoint entries
    that match no parameter. ``training_state``: optimizer/training entries, recognised and ignored.
    ``prefix``: the network prefix matched through (``"ckpt:backbone."`` or ``"graph:net."``), if any.
    """

    path: str
    format: str
    applied: tuple[str, ...]
    kept: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()
    training_state: tuple[str, ...] = ()
    prefix: str = ""

    def __str__(self) -> str:
        parts = [f"{len(self.applied)} parameter(s) from {self.path} ({self.format})"]
        if self.prefix:
            parts.append(f"matched through prefix {self.prefix!r}")
        if self.kept:
            parts.append(f"{len(self.kept)} kept the MindIR's values: {_names(self.kept)}")
        if self.unused:
            parts.append(f"{len(self.unused)} checkpoint entries unused: {_names(self.unused)}")
        if self.training_state:
            parts.append(f"{len(self.training_state)} optimizer/training entries ignored")
        return "; ".join(parts)


def _names(names: Iterable[str]) -> str:
    items = sorted(names)
    more = f", ... ({len(items) - _LIST_MAX} more)" if len(items) > _LIST_MAX else ""
    return ", ".join(items[:_LIST_MAX]) + more


# -- reading -----------------------------------------------------------------------------------------
def read_checkpoint(path: str | os.PathLike[str]) -> tuple[str, dict[str, np.ndarray], set[str]]:
    """``(format, {name: array}, names stored as bfloat16)`` of a MindSpore ``.ckpt`` or ``.safetensors`` file.

    bfloat16 tensors are widened to float32, as the loader widens a MindIR's; the third item keeps
    their stored dtype so that a dtype mismatch with the MindIR is still caught.
    """
    p = Path(path)
    with open_file(p, "checkpoint file", ".ckpt or .safetensors file") as fh:
        try:
            buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # ValueError: an empty file cannot be mapped
            raise MindIRError(f"{p}: the checkpoint file is empty or cannot be mapped") from None
    widened: set[str] = set()
    # A .ckpt starts with its first entry (field 1, 0x0A); safetensors with a length, then its JSON header.
    if p.suffix.lower() == ".safetensors" or (buf[:1] != b"\n" and buf[8:9] == b"{"):
        return "safetensors", _read_safetensors(p, buf, widened), widened
    return "ckpt", _read_ckpt(p, buf, widened), widened


def _read_ckpt(p: Path, buf: mmap.mmap, widened: set[str]) -> dict[str, np.ndarray]:
    from ._decrypt import cipher_mode

    data = memoryview(buf)  # parsed in place: protobuf's copy of each tensor_content is the only one
    mode = cipher_mode(data)
    if mode:
        raise MindIRError(
            f"{p}: this checkpoint is encrypted ({mode}); mindinfer reads plain checkpoints. "
            "Save it without enc_key (the model itself can stay encrypted)"
        )
    if data[-17:-10] == _CRC_MARK:
        body, stored = data[:-17], int.from_bytes(data[-10:], "big")
        crc = zlib.crc32(body)
        if crc != stored:
            raise MindIRError(
                f"{p}: CRC-32 check failed (the file says {stored:#010x}, its contents give "
                f"{crc:#010x}); the checkpoint is damaged or was modified"
            )
        data = body
    msg = checkpoint_pb2.Checkpoint()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise MindIRError(
            f"{p}: not a readable MindSpore checkpoint (protobuf parse failed: {exc}); it may be truncated or corrupt"
        ) from None
    if not len(msg.value):
        raise MindIRError(f"{p}: parsed, but holds no checkpoint entries; is it a MindSpore .ckpt file?")
    # Slices of one parameter are consecutive entries with the same tag.
    groups: list[tuple[str, list[checkpoint_pb2.TensorProto]]] = []
    for i, v in enumerate(msg.value):
        if not v.tag:
            raise MindIRError(f"{p}: checkpoint entry {i} has no name (tag); the file is corrupt")
        if v.WhichOneof("value") != "tensor":
            groups.append((v.tag, []))  # a MapTensor (embedding table): not a parameter of an inference graph
            continue
        if groups and groups[-1][0] == v.tag and groups[-1][1]:
            groups[-1][1].append(v.tensor)
        else:
            groups.append((v.tag, [v.tensor]))
    out: dict[str, np.ndarray] = {}
    for tag, slices in groups:
        if slices and slices[0].tensor_type != "str":
            out[tag] = _ckpt_tensor(p, tag, slices)
            if slices[0].tensor_type == "BFloat16":
                widened.add(tag)
        else:
            out[tag] = np.empty(0, dtype=object)  # strings, map tensors: listed if unused, never applied
    return out


def _ckpt_tensor(p: Path, tag: str, slices: list[checkpoint_pb2.TensorProto]) -> np.ndarray:
    where = f"{p}: entry '{tag}'"
    t = slices[0]
    name = _CKPT_DTYPES.get(t.tensor_type)
    if name is None:
        raise MindIRError(f"{where}: tensor_type {t.tensor_type!r} is not supported (known: {', '.join(_CKPT_DTYPES)})")
    raw = slices[0].tensor_content if len(slices) == 1 else b"".join(s.tensor_content for s in slices)
    dims = tuple(int(d) for d in t.dims)
    return _array(raw, 0, name, dims, where, scalar_dims_zero=True)


def _read_safetensors(p: Path, buf: mmap.mmap, widened: set[str]) -> dict[str, np.ndarray]:
    if len(buf) < 8:
        raise MindIRError(f"{p}: {len(buf)} bytes is too short for a safetensors file; it is truncated")
    (n,) = struct.unpack_from("<Q", buf, 0)
    if n > len(buf) - 8:
        raise MindIRError(f"{p}: safetensors header of {n} bytes runs past the end of the file; it is truncated")
    try:
        header = json.loads(bytes(buf[8 : 8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MindIRError(f"{p}: safetensors header is not valid JSON ({exc}); the file is corrupt") from None
    if not isinstance(header, dict):
        raise MindIRError(f"{p}: safetensors header is not a JSON object; the file is corrupt")
    meta = header.pop("__metadata__", None) or {}
    base, size = 8 + n, len(buf) - 8 - n
    out: dict[str, np.ndarray] = {}
    spans: dict[str, tuple[int, int]] = {}
    for name, info in header.items():
        where = f"{p}: tensor '{name}'"
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise MindIRError(
                f"{where}: header entry {info!r} lacks dtype/shape/data_offsets; the file is corrupt"
            ) from None
        if dtype not in _ST_DTYPES:
            raise MindIRError(f"{where}: dtype {dtype!r} is not supported (known: {', '.join(_ST_DTYPES)})")
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= size):
            raise MindIRError(
                f"{where}: data_offsets [{begin}, {end}] fall outside the {size} data bytes; the file is truncated"
            )
        spans[name] = (base + begin, base + end)
        out[name] = _array(buf, (base + begin, end - begin), _ST_DTYPES[dtype], shape, where)
        if dtype == "BF16":
            widened.add(name)
    crc = meta.get("crc_num") if isinstance(meta, dict) else None
    if crc is not None:
        _check_safetensors_crc(p, buf, spans, crc)
    return out


def _check_safetensors_crc(p: Path, buf: mmap.mmap, spans: Mapping[str, tuple[int, int]], stored: str) -> None:
    # MindSpore: crc32 over (name, stored tensor bytes) for every tensor in sorted name order.
    crc = 0
    view = memoryview(buf)
    for name in sorted(spans):
        begin, end = spans[name]
        crc = zlib.crc32(name.encode("utf-8"), crc)
        crc = zlib.crc32(view[begin:end], crc)
    view.release()
    if str(crc) != str(stored):
        raise MindIRError(
            f"{p}: CRC-32 check failed (metadata says {stored}, the tensors give {crc}); "
            "the checkpoint is damaged or was modified"
        )


def _array(
    buf: bytes | mmap.mmap,
    span: int | tuple[int, int],
    dtype_name: str,
    dims: tuple[int, ...],
    where: str,
    scalar_dims_zero: bool = False,
) -> np.ndarray:
    """A read-only array over ``buf`` (a zero-copy view when aligned); sizes checked first."""
    offset, length = (0, len(buf)) if isinstance(span, int) else span
    bf16 = dtype_name == "bfloat16"
    dtype = np.dtype("<u2" if bf16 else dtype_name).newbyteorder("<")
    if any(d < 0 for d in dims):
        raise MindIRError(f"{where}: invalid shape {list(dims)}")
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    if scalar_dims_zero and dims == (0,) and length == dtype.itemsize:
        dims, count = (), 1  # MindSpore writes a scalar's dims as [0]
    if count * dtype.itemsize != length:
        raise MindIRError(
            f"{where}: shape {list(dims)} of {dtype_name} needs {count * dtype.itemsize} bytes but the file has "
            f"{length}; the checkpoint is truncated or corrupt"
        )
    arr = np.frombuffer(buf, dtype=dtype, count=count, offset=offset)
    if not arr.flags.aligned:
        arr = arr.copy()
    if bf16:
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    arr = arr.astype(dtype.newbyteorder("=") if not bf16 else np.float32, copy=False).reshape(dims)
    arr.flags.writeable = False
    return arr


# -- applying ----------------------------------------------------------------------------------------
def apply_checkpoint(model: Model, path: str | os.PathLike[str], strict: bool = True) -> Model:
    """A copy of ``model`` whose parameters carry the checkpoint's values; ``model.checkpoint`` says what changed.

    Matched against ``model.stored_params``: every parameter of the MindIR file with its stored
    dtype, including those the loader pruned as unused (so that checkpoint entries for them are not
    reported as unused) and bfloat16 ones the loader widened (so that a float32 checkpoint for them
    is a mismatch). The same whether the model was loaded with the checkpoint or before it.
    """
    fmt, entries, widened = read_checkpoint(path)
    file_params = model.stored_params
    owners: dict[str, list[Graph]] = {}  # a name may be a parameter of several graphs: all take the value
    for g in model.graphs:
        for name in g.params:
            owners.setdefault(name, []).append(g)
    mapping, prefix = _match(list(owners), entries)
    pruned = set(file_params) - set(owners)
    pruned_map, _ = _match(sorted(pruned), entries, prefix)
    used = set(mapping.values()) | set(pruned_map.values())
    kept = tuple(sorted(set(owners) - set(mapping)))
    state = tuple(sorted(e for e in entries if e not in used and _is_training_state(e)))
    unused = tuple(sorted(e for e in entries if e not in used and e not in state))
    if kept and strict:
        raise MindIRError(
            f"{path}: the checkpoint has no value for {len(kept)} parameter(s) of the model: {_names(kept)}; "
            "pass strict=False (CLI: --no-strict) to keep the MindIR's values for them"
        )
    new_params: dict[str, dict[str, Parameter]] = {g.name: dict(g.params) for g in model.graphs}
    for name, entry in mapping.items():
        old, arr = owners[name][0].params[name], entries[entry]
        if arr.dtype == object:
            raise MindIRError(f"{path}: entry '{entry}' is not a tensor, but parameter '{name}' needs one")
        if old.spec.shape != tuple(arr.shape):
            raise MindIRError(
                f"{path}: parameter '{name}' has shape {list(old.spec.shape or ())} in the MindIR but "
                f"{list(arr.shape)} in the checkpoint (entry '{entry}'); the checkpoint belongs to another network"
            )
        ours = file_params.get(name, old.spec.dtype)
        theirs = "bfloat16" if entry in widened else str(arr.dtype)
        if ours != theirs:
            raise MindIRError(
                f"{path}: parameter '{name}' is {ours} in the MindIR but {theirs} in the checkpoint "
                f"(entry '{entry}'); convert the checkpoint or export the MindIR with the same dtype"
            )
        for graph in owners[name]:
            new_params[graph.name][name] = Parameter(old.spec, arr)
    report = CheckpointReport(str(path), fmt, tuple(sorted(mapping)), kept if not strict else (), unused, state, prefix)
    if report.kept or report.unused:
        warnings.warn(f"checkpoint: {report}", CheckpointWarning, stacklevel=3)
    main = dataclasses.replace(model.main, params=new_params[model.main.name])
    functions = {k: dataclasses.replace(g, params=new_params[g.name]) for k, g in model.functions.items()}
    return dataclasses.replace(model, main=main, functions=functions, checkpoint=report)


def _is_training_state(name: str) -> bool:
    return name in _STATE_NAMES or name.startswith(_STATE_PREFIXES)


def _match(params: list[str], entries: Mapping[str, np.ndarray], prefix: str = "") -> tuple[dict[str, str], str]:
    """``({parameter: entry}, prefix)``: exact names first, then through the one network prefix that matches most."""
    mapping = {n: n for n in params if n in entries}
    missing = [n for n in params if n not in mapping]
    if not missing:
        return mapping, prefix
    taken = set(mapping.values())
    free = [e for e in entries if e not in taken and not _is_training_state(e)]
    if not prefix:
        votes: Counter[str] = Counter()
        missing_set, free_set = set(missing), set(free)
        for e in free:  # checkpoint names longer: "backbone.conv.weight" for "conv.weight"
            for i, ch in enumerate(e):
                if ch == "." and e[i + 1 :] in missing_set:
                    votes["ckpt:" + e[: i + 1]] += 1
        for n in missing:  # graph names longer: "net.conv.weight" for "conv.weight"
            for i, ch in enumerate(n):
                if ch == "." and n[i + 1 :] in free_set:
                    votes["graph:" + n[: i + 1]] += 1
        if not votes:
            return mapping, ""
        prefix = min(votes, key=lambda k: (-votes[k], len(k)))
    side, _, pre = prefix.partition(":")
    for n in missing:
        if side == "ckpt":
            e = pre + n
        elif n.startswith(pre):
            e = n[len(pre) :]
        else:
            continue
        if e in entries and e not in taken:
            mapping[n] = e
            taken.add(e)
    return mapping, prefix
