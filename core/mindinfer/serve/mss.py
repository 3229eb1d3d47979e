"""MindSpore Serving's protocol: RESTful ``/model/NAME[/version/N]:METHOD`` and gRPC ``MSService.Predict``.

As in MindSpore Serving, a request carries ``instances``: each maps the graph's input names to
values. For a model with a batch dimension (``with_batch_dim``, on by default when every input and
output has dimension 0) an instance is one sample without that dimension: the server stacks the
instances into batches (padding a fixed batch by repeating the last instance) and splits the outputs
back. Without one, each instance runs on its own. An instance that fails validation gets its own
``error_msg``; the others still run.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._inputs import check_inputs
from ..errors import MindInferError
from .errors import ModelNotFoundError, RequestError
from .hub import Hub
from .model import ModelEntry
from .v2 import array_from

__all__ = ["DEFAULT_METHOD", "MS_DTYPES", "decode_json_instances", "encode_json_instances", "parse_url", "predict"]

DEFAULT_METHOD = "predict"

#: MindSpore Serving's DataType enum (ms_service.proto) -> numpy dtype.
MS_DTYPES = {
    1: np.dtype(np.bool_),
    2: np.dtype(np.int8),
    3: np.dtype(np.uint8),
    4: np.dtype(np.int16),
    5: np.dtype(np.uint16),
    6: np.dtype(np.int32),
    7: np.dtype(np.uint32),
    8: np.dtype(np.int64),
    9: np.dtype(np.uint64),
    10: np.dtype(np.float16),
    11: np.dtype(np.float32),
    12: np.dtype(np.float64),
}
MS_CODES = {v: k for k, v in MS_DTYPES.items()}

# Type names of its RESTful b64 objects (http_process.h).
_REST_TYPES = {
    "bool": "bool",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "uint8",
    "uint16": "uint16",
    "uint32": "uint32",
    "uint64": "uint64",
    "fp16": "float16",
    "fp32": "float32",
    "fp64": "float64",
    "float16": "float16",
    "float32": "float32",
    "float64": "float64",
}

Instance = dict[str, np.ndarray]
Result = dict[str, np.ndarray] | MindInferError


def parse_url(rest: str) -> tuple[str, int, str]:
    """``NAME[/version/N]:METHOD`` (the path after ``/model/``) -> name, version (0 = latest), method."""
    path, sep, method = rest.rpartition(":")
    if not sep or not method or not path:
        raise RequestError(f"please check url /model/{rest}: write /model/NAME[/version/N]:METHOD")
    parts = path.split("/")
    if len(parts) == 1:
        return parts[0], 0, method
    if len(parts) == 3 and parts[1] == "version" and parts[2].isdigit():
        return parts[0], int(parts[2]), method
    raise RequestError(f"please check url /model/{rest}: write /model/NAME[/version/N]:METHOD")


def resolve(hub: Hub, name: str, version: int, method: str) -> ModelEntry:
    entry = hub.lookup(name, version)
    if method != DEFAULT_METHOD:
        raise ModelNotFoundError(
            f"servable {name!r}: method {method!r} is not available; mindinfer serves method {DEFAULT_METHOD!r}"
        )
    entry.check_ready()
    return entry


def _sample_specs(entry: ModelEntry) -> list[Any]:
    if not entry.with_batch_dim:
        return list(entry.inputs)
    return [dataclasses.replace(s, shape=s.shape[1:] if s.shape else s.shape) for s in entry.inputs]


def _coerce(value: np.ndarray, dtype: np.dtype) -> np.ndarray:
    # JSON numbers arrive as int64/float64/bool: take the model's dtype within the same kind, and
    # integers as floats; a float given for an integer input is refused by check_inputs.
    if value.dtype == dtype:
        return value
    if value.dtype.kind == dtype.kind or (value.dtype.kind in "iu" and dtype.kind in "iuf"):
        return value.astype(dtype)
    return value


async def predict(entry: ModelEntry, instances: list[Instance | MindInferError]) -> list[Result]:
    """Validates each instance, runs the valid ones in batches, and returns outputs per instance."""
    specs = _sample_specs(entry)
    results: list[Result | None] = [None] * len(instances)
    valid: list[tuple[int, list[np.ndarray]]] = []
    for i, inst in enumerate(instances):
        if isinstance(inst, MindInferError):
            results[i] = inst
            continue
        try:
            given = {k: _coerce(v, np.dtype(s.dtype)) if (s := _spec(specs, k)) else v for k, v in inst.items()}
            valid.append((i, check_inputs(specs, given)))
        except MindInferError as exc:
            results[i] = exc
    if entry.with_batch_dim:
        runs = _batches(entry, valid)
    else:
        runs = [([i], arrays) for i, arrays in valid]
    outcomes = await asyncio.gather(*(entry.infer(arrays) for _, arrays in runs), return_exceptions=True)
    for (members, _), outcome in zip(runs, outcomes):
        for k, i in enumerate(members):
            if isinstance(outcome, MindInferError):
                results[i] = outcome
            elif isinstance(outcome, BaseException):
                raise outcome
            elif entry.with_batch_dim:
                results[i] = {s.name: o[k] for s, o in zip(entry.outputs, outcome)}
            else:
                results[i] = {s.name: o for s, o in zip(entry.outputs, outcome)}
    return [r if r is not None else MindInferError("instance was not run") for r in results]


def _spec(specs: list[Any], name: str) -> Any:
    return next((s for s in specs if s.name == name), None)


def _batches(entry: ModelEntry, valid: list[tuple[int, list[np.ndarray]]]) -> list[tuple[list[int], list[np.ndarray]]]:
    """Instances stacked into the model's batches: a fixed batch is filled (and padded), a dynamic
    one takes up to ``max_batch_size`` instances (all of them when the model is not batched)."""
    groups: dict[tuple[tuple[int, ...], ...], list[tuple[int, list[np.ndarray]]]] = {}
    for i, arrays in valid:
        groups.setdefault(tuple(a.shape for a in arrays), []).append((i, arrays))
    fixed = entry.batch_dim if entry.batch_dim is not None and entry.batch_dim > 0 else None
    size = fixed or entry.max_batch_size or max(len(valid), 1)
    runs = []
    for members in groups.values():
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            stacked = [np.stack([arrays[k] for _, arrays in chunk]) for k in range(len(chunk[0][1]))]
            if fixed and len(chunk) < fixed:
                stacked = [np.concatenate([s, np.repeat(s[-1:], fixed - len(chunk), axis=0)]) for s in stacked]
            runs.append(([i for i, _ in chunk], stacked))
    return runs


# -- RESTful JSON --------------------------------------------------------------------------------
def _json_value(value: Any, where: str) -> np.ndarray:
    if isinstance(value, dict):
        if set(value) - {"b64", "type", "shape"} or "b64" not in value:
            raise RequestError(f'{where}: an object value must be {{"b64": ..., "type": ..., "shape": [...]}}')
        kind = value.get("type", "bytes")
        if kind not in _REST_TYPES:
            raise RequestError(
                f"{where}: type {kind!r} is not supported; use one of {', '.join(_REST_TYPES)} (bytes and str "
                "inputs are not tensors a mindinfer model takes)"
            )
        dtype = np.dtype(_REST_TYPES[kind])
        try:
            raw = base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise RequestError(f"{where}: b64 is not valid base64 ({exc})") from None
        shape = value.get("shape", [])
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise RequestError(f"{where}: shape must be a list of integers >= 0, got {shape!r}")
        return array_from(raw, tuple(shape), dtype, where, kind)
    try:
        array = np.asarray(value)
    except ValueError as exc:
        raise RequestError(f"{where}: nested lists are ragged ({exc})") from None
    if array.dtype.kind not in "biuf":
        raise RequestError(f"{where}: value must be numbers or booleans (nested lists), got {array.dtype}")
    return array


def decode_json_instances(body: Any) -> list[Instance | MindInferError]:
    if not isinstance(body, dict) or "instances" not in body:
        raise RequestError('the request must be a JSON object with "instances"')
    raw = body["instances"]
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        raise RequestError('"instances" must be an object or a non-empty list of objects')
    out: list[Instance | MindInferError] = []
    for n, inst in enumerate(items):
        if not isinstance(inst, dict):
            out.append(RequestError(f"instance {n} must be an object of input name to value"))
            continue
        try:
            out.append({k: _json_value(v, f"instance {n}, input {k!r}") for k, v in inst.items()})
        except MindInferError as exc:
            out.append(exc)
    return out


def encode_json_instances(results: list[Result]) -> dict[str, Any]:
    instances: list[dict[str, Any]] = []
    for r in results:
        if isinstance(r, MindInferError):
            instances.append({"error_msg": str(r)})
        else:
            instances.append({k: v.tolist() for k, v in r.items()})
    if instances and all("error_msg" in i for i in instances) and len({i["error_msg"] for i in instances}) == 1:
        return {"error_msg": instances[0]["error_msg"]}
    return {"instances": instances}


def instance_from_items(items: Mapping[str, Any], n: int) -> Instance | MindInferError:
    """A gRPC ``Instance``'s tensors as arrays."""
    out: Instance = {}
    for name, t in items.items():
        dtype = MS_DTYPES.get(int(t.dtype))
        where = f"instance {n}, input {name!r}"
        if dtype is None:
            return RequestError(
                f"{where}: data type {int(t.dtype)} (string/bytes/unknown) is not a tensor a model takes"
            )
        try:
            out[name] = array_from(t.data, tuple(int(d) for d in t.shape.dims), dtype, where, str(dtype))
        except RequestError as exc:
            return exc
    return out
