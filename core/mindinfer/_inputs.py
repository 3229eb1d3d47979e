"""Checking what a user passes to ``Session.run`` against the model's inputs, before anything runs."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InvalidInputError
from .ir import TensorSpec

__all__ = ["check_inputs", "on_device"]


def check_inputs(specs: Sequence[TensorSpec], given: Any, device_arrays: bool = False) -> list[np.ndarray]:
    """Arrays in ``specs`` order, or :class:`InvalidInputError` naming the input, expected and given.

    ``device_arrays``: the executable takes arrays that live on a GPU (``accepts_device_arrays``);
    they are checked through their interface and passed on as they are, never copied to the host.
    """
    if isinstance(given, Mapping):
        names = [s.name for s in specs]
        extra = [k for k in given if k not in names]
        missing = [n for n in names if n not in given]
        if extra or missing:
            raise InvalidInputError(_name_mismatch(missing, extra, names, _expected(specs)))
        values = [given[n] for n in names]
    elif isinstance(given, (list, tuple)):
        if len(given) != len(specs):
            raise InvalidInputError(f"the model takes {len(specs)} input(s) ({_expected(specs)}), got {len(given)}")
        values = list(given)
    else:
        raise InvalidInputError(
            f"run() takes a list of arrays in input order or a dict by input name ({_expected(specs)}), "
            f"got {type(given).__name__}"
        )
    return [
        _check_device(spec, value, device_arrays) if on_device(value) else _check_one(spec, value)
        for spec, value in zip(specs, values)
    ]


def _expected(specs: Sequence[TensorSpec]) -> str:
    # Only for error messages: formatting every spec on each run costs more than the checks.
    return ", ".join(str(s) for s in specs)


def on_device(value: Any) -> bool:
    """Whether ``value`` lives in GPU memory (``__cuda_array_interface__``, or DLPack on a non-CPU device)."""
    if isinstance(value, np.ndarray):
        return False
    if hasattr(value, "__cuda_array_interface__"):
        return True
    device = getattr(value, "__dlpack_device__", None)
    if device is None:
        return False
    try:
        return int(device()[0]) not in (1, 3)  # kDLCPU, kDLCUDAHost (pinned host memory)
    except Exception:  # noqa: BLE001 -- a broken interface: let numpy try it as a host array
        return False


def _check_device(spec: TensorSpec, value: Any, accepted: bool) -> Any:
    kind = type(value).__name__
    if not accepted:
        raise InvalidInputError(
            f"input {spec.name!r} is a {kind} in GPU memory, and this target's plugin takes host arrays; "
            "pass a numpy array (cupy.asnumpy(x), tensor.cpu().numpy()) or use a GPU target"
        )
    cai = getattr(value, "__cuda_array_interface__", None)
    if cai is None:
        return value  # DLPack only: the plugin reads dtype and shape from the capsule
    shape, dtype = tuple(cai["shape"]), np.dtype(cai["typestr"])
    if dtype != np.dtype(spec.dtype):
        raise InvalidInputError(f"input {spec.name!r}: expected dtype {spec.dtype}, got {dtype} ({kind} on the GPU)")
    if spec.shape is not None and (
        len(shape) != len(spec.shape) or any(d >= 0 and d != g for d, g in zip(spec.shape, shape))
    ):
        raise InvalidInputError(
            f"input {spec.name!r}: expected shape {_fmt_shape(spec.shape)}, got {_fmt_shape(shape)} ({kind} on the GPU)"
        )
    return value


def _name_mismatch(missing: list[str], extra: list[Any], names: list[str], expected: str) -> str:
    parts = []
    for key in extra:
        pool = missing or names
        guess = [n for n in pool if n.lower() == str(key).lower()] or difflib.get_close_matches(str(key), pool, n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        parts.append(f"unknown input {key!r}{hint}")
    if missing:
        parts.append("missing input(s) " + ", ".join(repr(m) for m in missing))
    return "; ".join(parts) + f"; the model's inputs are: {expected}"


def _check_one(spec: TensorSpec, value: Any) -> np.ndarray:
    array = value if isinstance(value, np.ndarray) else _convert(spec, value)
    if array.dtype != np.dtype(spec.dtype):
        raise InvalidInputError(
            f"input {spec.name!r}: expected dtype {spec.dtype}, got {array.dtype} "
            f"(convert with .astype(numpy.{spec.dtype}))"
        )
    if spec.shape is not None:
        if array.ndim != len(spec.shape):
            raise InvalidInputError(
                f"input {spec.name!r}: expected rank {len(spec.shape)} {_fmt_shape(spec.shape)}, got rank {array.ndim} "
                f"{_fmt_shape(array.shape)}"
            )
        for axis, (d, g) in enumerate(zip(spec.shape, array.shape)):
            if d >= 0 and d != g:
                raise InvalidInputError(
                    f"input {spec.name!r}: dimension {axis} must be {d}, got {g} "
                    f"(expected shape {_fmt_shape(spec.shape)}, given {_fmt_shape(array.shape)})"
                )
    # Not np.ascontiguousarray alone: it turns a 0-d input into a 1-d one.
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _convert(spec: TensorSpec, value: Any) -> np.ndarray:
    # Objects that carry their own dtype (other frameworks' tensors, numpy scalars) keep it, so a
    # float64 tensor is reported rather than silently narrowed; plain Python numbers and nested
    # lists take the input's dtype when that is a same-kind cast.
    try:
        array = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 -- ragged nested lists and the like
        raise InvalidInputError(
            f"input {spec.name!r}: cannot convert {type(value).__name__} to an array ({exc}); pass a numpy array"
        ) from None
    if array.dtype == object or array.dtype.kind in "USV":
        raise InvalidInputError(
            f"input {spec.name!r}: {type(value).__name__} does not convert to a numeric array "
            f"(got dtype {array.dtype}); pass a numpy array of {spec.dtype}"
        )
    if hasattr(value, "dtype"):
        return array
    # Python numbers follow the rules arrays do: they take the input's dtype when an array of
    # their natural dtype (bool, int64, float64) would be accepted after a same-kind cast, and
    # are refused otherwise (floats for an int input). Unlike an int64 array's astype, an integer
    # that does not fit the input's dtype is refused, never wrapped around.
    target = np.dtype(spec.dtype)
    if array.size == 0:
        return array.astype(target)
    if array.dtype == target or not np.can_cast(array.dtype, target, casting="same_kind"):
        return array
    if target.kind in "iu" and array.dtype.kind in "iu":
        info = np.iinfo(target)
        low, high = int(array.min()), int(array.max())
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise InvalidInputError(
                f"input {spec.name!r}: the value {bad} does not fit in {target} "
                f"(range {info.min}..{info.max}); pass a numpy array of {spec.dtype}"
            )
    return array.astype(target)


def _fmt_shape(shape: Sequence[int]) -> str:
    return "[" + ",".join("?" if d < 0 else str(d) for d in shape) + "]"
