"""The Open Inference Protocol (KServe v2) tensor codec, REST (JSON and binary extension) and gRPC.

REST bodies follow KServe's ``required_api.md``; binary tensors follow Triton's
``extension_binary_data.md``: a JSON header of ``Inference-Header-Content-Length`` bytes, then each
binary input's raw little-endian bytes (``parameters.binary_data_size``) in input order. Tensors in
shared memory (Triton's ``extension_shared_memory.md``) are read and written through :mod:`.shm`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import TensorSpec
from .errors import RequestError
from .model import ModelEntry
from .shm import NO_SHM, SharedMemoryRegions, ShmRef, shm_ref

__all__ = [
    "DATATYPES",
    "V2Request",
    "aligned_body",
    "datatype_of",
    "decode_rest",
    "encode_rest",
    "little_endian",
    "metadata",
    "numpy_of",
]

#: v2 datatype -> numpy dtype (BYTES is not a tensor type any mindinfer backend runs).
DATATYPES = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}
_NAMES = {v: k for k, v in DATATYPES.items()}


def datatype_of(dtype: str | np.dtype) -> str:
    """The v2 name of a numpy dtype, whatever its byte order (the wire's is always little-endian)."""
    dt = np.dtype(dtype)
    return _NAMES.get(dt) or _NAMES.get(dt.newbyteorder("="), str(dtype).upper())


#: Where binary tensor data is placed in a request buffer (bytes), so that arrays made on it are
#: aligned for any dtype and for the SIMD loads of the backends that read them in place.
ALIGNMENT = 64


def aligned_body(chunks: Sequence[bytes], data_at: int) -> memoryview:
    """The request body put together from ``chunks``, in a buffer placed so that its binary data,
    ``data_at`` bytes in, starts on an :data:`ALIGNMENT` boundary."""
    size = sum(len(c) for c in chunks)
    buf = np.empty(size + ALIGNMENT, np.uint8)  # not zeroed: every byte of the body is written next
    start = -(buf.ctypes.data + data_at) % ALIGNMENT
    body = buf.data[start : start + size]
    at = 0
    for chunk in chunks:
        body[at : at + len(chunk)] = chunk
        at += len(chunk)
    return body


def numpy_of(datatype: str, where: str) -> np.dtype:
    try:
        return DATATYPES[datatype]
    except (KeyError, TypeError):
        raise RequestError(
            f"{where}: datatype {datatype!r} is not supported; use one of {', '.join(DATATYPES)}"
        ) from None


def metadata(entry: ModelEntry, versions: list[str]) -> dict[str, Any]:
    def tensor(s: TensorSpec) -> dict[str, Any]:
        return {"name": s.name, "datatype": datatype_of(s.dtype), "shape": list(s.shape) if s.shape else [-1]}

    return {
        "name": entry.name,
        "versions": versions,
        "platform": entry.platform,
        "inputs": [tensor(s) for s in entry.inputs],
        "outputs": [tensor(s) for s in entry.outputs],
    }


@dataclass
class V2Request:
    """A decoded infer request: arrays by input name, and how each output is wanted."""

    id: str
    inputs: dict[str, np.ndarray]
    outputs: list[str] | None  # None: every output
    binary: dict[str, bool]  # output name -> send as binary
    binary_default: bool
    shm_outputs: dict[str, ShmRef] = dataclasses.field(default_factory=dict)  # written there, not sent


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value):
        raise RequestError(f"{where}: shape must be a list of integers >= 0, got {value!r}")
    return tuple(value)


def array_from(
    data: Any, shape: tuple[int, ...], dtype: np.dtype, where: str, type_name: str | None = None
) -> np.ndarray:
    """A tensor from row-major data (little-endian bytes, or a flat or nested list) that must fill
    ``shape``; ``type_name`` is the dtype as the request's protocol names it (default: v2's)."""
    count = math.prod(shape)
    name = type_name or _NAMES.get(dtype, str(dtype))
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) != count * dtype.itemsize:
            raise RequestError(
                f"{where}: shape {list(shape)} of {name} takes {count * dtype.itemsize} bytes, got {len(data)}"
            )
        array = np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False).reshape(shape)
        # Bytes read in place land wherever the request put them: a tensor after an odd-sized one,
        # or a body that was not read into an aligned buffer, is copied rather than run unaligned.
        return array if array.flags.aligned else array.copy()
    try:
        flat = np.asarray(data, dtype=dtype).reshape(-1)
    except (TypeError, ValueError, OverflowError) as exc:
        raise RequestError(f"{where}: data does not convert to {name} ({exc})") from None
    if flat.size != count:
        raise RequestError(f"{where}: shape {list(shape)} has {count} elements, data has {flat.size}")
    return flat.reshape(shape)


def shm_input(regions: SharedMemoryRegions | None, ref: ShmRef, where: str) -> memoryview:
    """An input's bytes from the shared-memory region its parameters name."""
    if regions is None:
        raise RequestError(f"{where}: {NO_SHM}")
    return regions.read(ref, where)


def shm_outputs_of(wanted: Iterable[tuple[str, Any]], regions: SharedMemoryRegions | None) -> dict[str, ShmRef]:
    """The outputs asked for in shared memory ((name, parameters) pairs), each place checked
    before the model runs."""
    refs: dict[str, ShmRef] = {}
    for name, params in wanted:
        ref = shm_ref(params, f"output {name!r}")
        if ref is not None:
            check_shm_output(regions, ref, f"output {name!r}")
            refs[name] = ref
    return refs


def check_shm_output(regions: SharedMemoryRegions | None, ref: ShmRef, where: str) -> None:
    """Refuses an output place that is not in a registered region before the model runs."""
    if regions is None:
        raise RequestError(f"{where}: {NO_SHM}")
    regions.check(ref, where)


def write_shm_outputs(
    regions: SharedMemoryRegions | None, refs: dict[str, ShmRef], selected: list[tuple[str, np.ndarray]]
) -> None:
    """Writes the outputs asked for in shared memory into their regions."""
    for name, arr in selected:
        ref = refs.get(name)
        if ref is None:
            continue
        check_shm_output(regions, ref, f"output {name!r}")
        assert regions is not None
        regions.write(ref, arr, f"output {name!r}")


def shm_parameters(ref: ShmRef, arr: np.ndarray) -> dict[str, Any]:
    """What the reply says of an output written to shared memory, as Triton says it."""
    out: dict[str, Any] = {"shared_memory_region": ref.region, "shared_memory_byte_size": int(arr.nbytes)}
    if ref.offset:
        out["shared_memory_offset"] = ref.offset
    return out


def decode_rest(
    body: bytes | bytearray | memoryview, header_length: int | None, regions: SharedMemoryRegions | None = None
) -> V2Request:
    """A v2 REST infer request. Binary inputs are arrays on ``body`` itself, not copies: in a body
    put together by :func:`aligned_body`, they are aligned and writable there."""
    if header_length is not None and not 0 <= header_length <= len(body):
        raise RequestError(
            f"Inference-Header-Content-Length {header_length} is outside the {len(body)}-byte request body"
        )
    view = memoryview(body)
    if header_length is None:  # all JSON
        head = body if isinstance(body, (bytes, bytearray)) else bytes(body)
    else:
        head = bytes(view[:header_length])
    try:
        req = json.loads(head)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(req, dict) or not isinstance(req.get("inputs"), list):
        raise RequestError('the request must be a JSON object with an "inputs" list')
    offset = 0 if header_length is None else header_length
    arrays: dict[str, np.ndarray] = {}
    for i, item in enumerate(req["inputs"]):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise RequestError(f'inputs[{i}] must be an object with a "name"')
        where = f"input {item['name']!r}"
        shape = _shape(item.get("shape"), where)
        dtype = numpy_of(str(item.get("datatype")), where)
        params = item.get("parameters") or {}
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        ref = shm_ref(params, where)
        if ref is not None:
            if size is not None or "data" in item:
                raise RequestError(f"{where}: is in shared memory, so it cannot also have data or binary_data_size")
            data: Any = shm_input(regions, ref, where)
        elif size is not None:
            if header_length is None:
                raise RequestError(f"{where}: binary_data_size needs the Inference-Header-Content-Length header")
            if not isinstance(size, int) or size < 0 or offset + size > len(body):
                raise RequestError(f"{where}: binary_data_size {size!r} runs past the end of the request body")
            data = view[offset : offset + size]
            offset += size
        elif "data" in item:
            data = item["data"]
        else:
            raise RequestError(f'{where}: has neither "data" nor parameters.binary_data_size')
        if item["name"] in arrays:
            raise RequestError(f"{where}: given twice")
        arrays[item["name"]] = array_from(data, shape, dtype, where)
    if header_length is not None and offset != len(body):
        raise RequestError(f"the request body has {len(body) - offset} bytes after the last binary input")
    outs = req.get("outputs")
    names: list[str] | None = None
    binary: dict[str, bool] = {}
    if outs is not None:
        if not isinstance(outs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outs):
            raise RequestError('"outputs" must be a list of objects with a "name"')
        names = []
        for o in outs:
            p = o.get("parameters") or {}
            if not isinstance(p, dict):
                raise RequestError(f"output {o['name']!r}: parameters must be an object, got {p!r}")
            if p.get("classification"):
                raise RequestError(f"output {o['name']!r}: the classification extension is not supported")
            names.append(o["name"])
            if "binary_data" in p:
                binary[o["name"]] = bool(p["binary_data"])
    params = req.get("parameters") or {}
    return V2Request(
        id=str(req.get("id", "")),
        inputs=arrays,
        outputs=names,
        binary=binary,
        binary_default=bool(params.get("binary_data_output", False)) if isinstance(params, dict) else False,
        shm_outputs=shm_outputs_of(((o["name"], o.get("parameters") or {}) for o in outs or ()), regions),
    )


def select_outputs(
    entry: ModelEntry, wanted: list[str] | None, outs: Sequence[np.ndarray]
) -> list[tuple[str, np.ndarray]]:
    by_name = {s.name: o for s, o in zip(entry.outputs, outs)}
    if wanted is None:
        return list(by_name.items())
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise RequestError(
            f"model {entry.name!r} has no output(s) {', '.join(map(repr, unknown))}; its outputs are "
            + ", ".join(by_name)
        )
    return [(n, by_name[n]) for n in wanted]


_COMPACT = json.JSONEncoder(separators=(",", ":"))
_NATIVE_LITTLE = sys.byteorder == "little"


def little_endian(arr: np.ndarray) -> np.ndarray:
    """``arr`` as contiguous little-endian data; the array itself when it already is (no copy)."""
    order = arr.dtype.byteorder
    if order == ">" or (order == "=" and not _NATIVE_LITTLE):
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)


def encode_rest(
    entry: ModelEntry, req: V2Request, outs: Sequence[np.ndarray], regions: SharedMemoryRegions | None = None
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it."""
    tensors = []
    blobs: list[memoryview | bytes] = []
    selected = select_outputs(entry, req.outputs, outs)
    write_shm_outputs(regions, req.shm_outputs, selected)
    for name, arr in selected:
        t: dict[str, Any] = {"name": name, "datatype": datatype_of(arr.dtype), "shape": list(arr.shape)}
        if name in req.shm_outputs:
            t["parameters"] = shm_parameters(req.shm_outputs[name], arr)
        elif req.binary.get(name, req.binary_default):
            raw = little_endian(arr)
            t["parameters"] = {"binary_data_size": raw.nbytes}
            blobs.append(raw.data.cast("B") if raw.size else b"")  # cast refuses an empty view
        else:
            t["data"] = arr.reshape(-1).tolist()
        tensors.append(t)
    head = _COMPACT.encode(
        {"model_name": entry.name, "model_version": str(entry.version), "id": req.id, "outputs": tensors}
    ).encode()
    if not blobs:
        return head, None
    return b"".join([head, *blobs]), len(head)
