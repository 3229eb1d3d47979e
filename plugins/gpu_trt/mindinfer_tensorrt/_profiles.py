"""Optimization profiles: a (min, opt, max) shape for every input with a dynamic dimension.

TensorRT needs one profile when any input has a ``-1`` dimension, and refuses at run time a shape
outside it. The default covers the common case, a dynamic leading (batch) dimension:
``min 1, opt 1, max 32`` (:data:`DEFAULT_BATCH`). Any other dynamic dimension has no sensible
default and must be given with the ``shapes`` option::

    shapes={"x": {"min": [1, 3, 224, 224], "opt": [8, 3, 224, 224], "max": [32, 3, 224, 224]}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mindinfer.errors import InvalidInputError, InvalidOptionError
from mindinfer.ir import TensorSpec

__all__ = ["DEFAULT_BATCH", "Profile", "check_run_shape", "check_shapes_option", "derive_profiles"]

PLUGIN = "tensorrt"
#: (min, opt, max) of a dynamic leading dimension when ``shapes`` does not name the input.
DEFAULT_BATCH = (1, 1, 32)
_KEYS = ("min", "opt", "max")


@dataclass(frozen=True)
class Profile:
    """The shape range one dynamic input is built for."""

    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]
    defaulted: bool = False

    def contains(self, shape: Sequence[int]) -> bool:
        return len(shape) == len(self.min) and all(lo <= d <= hi for lo, d, hi in zip(self.min, shape, self.max))

    def to_json(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    def __str__(self) -> str:
        how = " (default)" if self.defaulted else ""
        return f"min {_fmt(self.min)}, opt {_fmt(self.opt)}, max {_fmt(self.max)}{how}"


def check_shapes_option(value: Any) -> str | None:
    """The ``shapes`` option's form, checked before the model is known (``Option.check``)."""
    if not isinstance(value, Mapping):
        return "it must be a dict {input name: {'min': [...], 'opt': [...], 'max': [...]}}"
    for name, ranges in value.items():
        if not isinstance(name, str):
            return f"input names must be strings, got {name!r}"
        if not isinstance(ranges, Mapping) or set(ranges) != set(_KEYS):
            return f"shapes[{name!r}] must be a dict with exactly the keys 'min', 'opt' and 'max'"
        dims = [ranges[k] for k in _KEYS]
        for key, shape in zip(_KEYS, dims):
            if not isinstance(shape, (list, tuple)) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
            ):
                return f"shapes[{name!r}][{key!r}] must be a list of non-negative ints, got {shape!r}"
        if len({len(s) for s in dims}) != 1:
            return f"shapes[{name!r}]: min, opt and max must have the same rank"
        for axis, (lo, mid, hi) in enumerate(zip(*dims)):
            if not lo <= mid <= hi:
                return f"shapes[{name!r}]: dimension {axis} needs min <= opt <= max, got {lo}, {mid}, {hi}"
    return None


def derive_profiles(specs: Sequence[TensorSpec], shapes: Mapping[str, Any] | None) -> list[Profile]:
    """A profile per dynamic input, from ``shapes`` or the documented default; errors name the option."""
    given = dict(shapes or {})
    names = [s.name for s in specs]
    unknown = [n for n in given if n not in names]
    if unknown:
        raise InvalidOptionError(
            f"plugin '{PLUGIN}': option shapes names {', '.join(map(repr, unknown))}, which the model does not "
            f"have; its inputs are {', '.join(str(s) for s in specs)}"
        )
    profiles = []
    for spec in specs:
        if spec.shape is None:
            if spec.name not in given:
                raise InvalidOptionError(
                    f"plugin '{PLUGIN}': input {spec.name!r} has an unknown rank; give its range with "
                    f"options={{'shapes': {{{spec.name!r}: {{'min': [...], 'opt': [...], 'max': [...]}}}}}}"
                )
            profiles.append(_from_option(spec, given[spec.name]))
            continue
        if spec.name in given:
            profiles.append(_from_option(spec, given[spec.name]))
            continue
        dynamic = [i for i, d in enumerate(spec.shape) if d < 0]
        if not dynamic:
            continue
        if dynamic != [0]:
            axis = next(i for i in dynamic if i != 0)
            example = [d if d >= 0 else "?" for d in spec.shape]
            raise InvalidOptionError(
                f"plugin '{PLUGIN}': input {spec.name!r} {_fmt(spec.shape)} has dynamic dimension {axis}, which "
                f"has no default range (only a dynamic leading batch dimension does: {DEFAULT_BATCH}); give it "
                f"with options={{'shapes': {{{spec.name!r}: {{'min': {example}, 'opt': ..., 'max': ...}}}}}}"
            )
        lo, mid, hi = ((b, *spec.shape[1:]) for b in DEFAULT_BATCH)
        profiles.append(Profile(spec.name, tuple(lo), tuple(mid), tuple(hi), defaulted=True))
    return profiles


def _from_option(spec: TensorSpec, ranges: Mapping[str, Sequence[int]]) -> Profile:
    lo, mid, hi = (tuple(int(d) for d in ranges[k]) for k in _KEYS)
    if spec.shape is not None:
        if len(lo) != len(spec.shape):
            raise InvalidOptionError(
                f"plugin '{PLUGIN}': option shapes[{spec.name!r}] has rank {len(lo)}, but input {spec} has rank "
                f"{len(spec.shape)}"
            )
        for axis, d in enumerate(spec.shape):
            if d >= 0 and not lo[axis] == mid[axis] == hi[axis] == d:
                raise InvalidOptionError(
                    f"plugin '{PLUGIN}': option shapes[{spec.name!r}] gives dimension {axis} the range "
                    f"{lo[axis]}..{hi[axis]}, but the model fixes it to {d}"
                )
    return Profile(spec.name, lo, mid, hi)


def check_run_shape(profiles: Mapping[str, Profile], name: str, shape: Sequence[int]) -> None:
    """``InvalidInputError`` naming the input, its profile and the option that widens it."""
    profile = profiles.get(name)
    if profile is None or profile.contains(shape):
        return
    wider_max = [max(d, h) for d, h in zip(shape, profile.max)] if len(shape) == len(profile.max) else list(shape)
    wider_min = [min(d, lo) for d, lo in zip(shape, profile.min)] if len(shape) == len(profile.min) else list(shape)
    raise InvalidInputError(
        f"plugin '{PLUGIN}': input {name!r} has shape {_fmt(shape)}, outside the engine's optimization profile "
        f"for {name!r} ({profile}); compile with options={{'shapes': {{{name!r}: {{'min': {wider_min}, "
        f"'opt': {list(profile.opt)}, 'max': {wider_max}}}}}}} to widen it"
    )


def _fmt(shape: Sequence[int]) -> str:
    return "[" + ",".join("?" if d < 0 else str(d) for d in shape) + "]"
