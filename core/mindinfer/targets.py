"""Device target strings: ``cpu``, ``gpu:1``, ``ascend310:0``, ``cpu@onnx``, ``gpu,cpu``, ``auto``.

Grammar (case does not matter, so MindSpore's ``"CPU"``, ``"GPU"``, ``"Ascend"`` work)::

    target      := alternative ("," alternative)*      # an ordered fallback the user asked for
    alternative := device ["@" plugin]
    device      := "auto" | kind [":" index]
    kind        := "cpu" | "gpu" | "ascend" | "ascend" chip | <a kind an installed plugin declares>
    chip        := three digits and an optional letter (ascend310, ascend910b)

Parsing only checks the syntax and the kind. Which plugin and device an alternative resolves to
is decided by :func:`candidates` (the order in which backends are tried) and :func:`pick_device`
(the device of one backend), the same two rules for :class:`mindinfer.Session` and the
conformance suite.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .backend import Backend, Device
from .errors import InvalidOptionError, InvalidTargetError

__all__ = [
    "AUTO",
    "AUTO_RANK",
    "KNOWN_KINDS",
    "DeviceTarget",
    "Target",
    "candidates",
    "options_for",
    "parse_target",
    "pick_device",
]

AUTO = "auto"
#: Device kinds core knows about; plugins may declare more (the test ``null`` device).
KNOWN_KINDS = ("cpu", "gpu", "ascend")
# Common names users type for a kind, so the error can say what we call it.
_ALIASES = {"cuda": "gpu", "npu": "ascend", "davinci": "ascend", "host": "cpu", "x86": "cpu", "arm": "cpu"}
_ALT_RE = re.compile(r"^(?P<kind>[a-z][a-z0-9_]*?)(?P<chip>\d{3}[a-z]?)?(?::(?P<index>[^@]*))?(?:@(?P<plugin>.*))?$")
_PLUGIN_RE = re.compile(r"^[a-z][a-z0-9_.-]*$")
_EXAMPLES = "e.g. 'cpu', 'gpu:1', 'ascend310:0', 'cpu@onnx', 'gpu,cpu' or 'auto'"


@dataclass(frozen=True)
class DeviceTarget:
    """One alternative of a target: a device kind (or ``auto``), optional index, chip and plugin."""

    kind: str
    index: int | None = None
    chip: str | None = None
    plugin: str | None = None

    @property
    def is_auto(self) -> bool:
        return self.kind == AUTO

    def __str__(self) -> str:
        text = self.chip or self.kind
        if self.index is not None:
            text += f":{self.index}"
        if self.plugin:
            text += f"@{self.plugin}"
        return text


@dataclass(frozen=True)
class Target:
    """A parsed target string: one or more alternatives, tried in order."""

    alternatives: tuple[DeviceTarget, ...]

    @property
    def is_fallback_list(self) -> bool:
        return len(self.alternatives) > 1

    def __str__(self) -> str:
        return ",".join(str(a) for a in self.alternatives)


def parse_target(text: str, extra_kinds: Iterable[str] = ()) -> Target:
    """Parse a target string; ``extra_kinds`` are device kinds declared by installed plugins.

    Raises :class:`InvalidTargetError` saying what is wrong and what is accepted.
    """
    if not isinstance(text, str):
        raise InvalidTargetError(f"a target must be a string ({_EXAMPLES}), got {type(text).__name__}")
    kinds = {*KNOWN_KINDS, *(k.lower() for k in extra_kinds)}
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise InvalidTargetError(f"empty device target in {text!r}; write {_EXAMPLES}")
    return Target(tuple(_parse_alternative(p, text, kinds) for p in parts))


def _parse_alternative(part: str, whole: str, kinds: set[str]) -> DeviceTarget:
    where = f"device target {part!r}" + (f" (in {whole!r})" if part != whole.strip() else "")
    low = part.lower().replace(" ", "")
    m = _ALT_RE.match(low)
    if m is None:
        if low.startswith("@"):
            raise InvalidTargetError(f"{where}: give a device kind before '@', e.g. 'cpu{low}'")
        raise InvalidTargetError(f"{where} does not parse; write {_EXAMPLES}")
    kind, chip, index_text, plugin = m["kind"], m["chip"], m["index"], m["plugin"]
    if kind not in kinds and chip is not None and kind + chip in kinds:
        kind, chip = kind + chip, None  # a plugin-declared kind that ends in digits
    if kind not in kinds and kind != AUTO:
        raise InvalidTargetError(f"{where}: unknown device kind {kind!r}; {_suggest(kind, kinds)}")
    if chip is not None:
        if kind != "ascend":
            raise InvalidTargetError(f"{where}: only Ascend targets take a chip model (ascend310, ascend910)")
        chip = kind + chip
    if kind == AUTO and index_text is not None:
        raise InvalidTargetError(f"{where}: 'auto' takes no device index; write e.g. 'gpu:1' instead")
    index = None
    if index_text is not None:
        if not index_text.isdigit():
            raise InvalidTargetError(f"{where}: device index {index_text!r} must be a number >= 0, e.g. '{kind}:0'")
        index = int(index_text)
    if plugin is not None and not _PLUGIN_RE.match(plugin):
        raise InvalidTargetError(f"{where}: plugin name {plugin!r} is not valid; see `mindinfer plugins`")
    return DeviceTarget(kind=kind, index=index, chip=chip, plugin=plugin)


def _suggest(kind: str, kinds: set[str]) -> str:
    known = ", ".join(sorted(kinds | {AUTO}))
    guess = _ALIASES.get(kind) or next(iter(difflib.get_close_matches(kind, sorted(kinds | {AUTO}), n=1)), None)
    hint = f"did you mean {guess!r}? " if guess else ""
    return f"{hint}known kinds: {known} ({_EXAMPLES})"


#: ``auto``: accelerators first, the CPU last; kinds not listed (plugin-declared) sit in between.
AUTO_RANK = {"ascend": 0, "gpu": 1, "cpu": 9}


def candidates(alt: DeviceTarget, backends: Iterable[Backend]) -> list[tuple[str, Backend]]:
    """``(device kind, backend)`` pairs that may serve ``alt``, in the order they are tried.

    ``backends`` are those the alternative may use (every loaded one, or the pinned plugin's).
    ``auto`` ranks kinds by :data:`AUTO_RANK`, then backends by priority; a kind ranks backends of
    that kind by priority (highest first).
    """
    if alt.is_auto:
        pairs = [(k, b) for b in backends for k in b.device_kinds]
        return sorted(pairs, key=lambda kb: (AUTO_RANK.get(kb[0], 5), -kb[1].priority))
    return sorted(((alt.kind, b) for b in backends if alt.kind in b.device_kinds), key=lambda kb: -kb[1].priority)


def _chip_unknown(d: Device) -> bool:
    """An unusable device probed too little to know its chip: its reason answers for any chip of its
    kind (``ascend310`` where pyACL is missing), rather than "no device matches"."""
    return not d.usable and not d.chip


def pick_device(backend: Backend, kind: str, alt: DeviceTarget) -> Device | str:
    """The lowest-index usable device of ``backend`` matching ``alt``, or a string saying why there is none."""
    try:
        devices = list(backend.devices())
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 -- a crashing probe makes the backend unusable, not core
        return f"devices() raised {type(exc).__name__}: {exc}"
    matching = [
        d
        for d in devices
        if d.kind == kind
        and (alt.index is None or d.index == alt.index)
        and (alt.chip is None or d.chip.lower().startswith(alt.chip) or _chip_unknown(d))
    ]
    if not matching:
        have = ", ".join(str(d) for d in devices if d.kind == kind) or "none"
        return f"no device matches {alt} (its {kind} devices: {have})"
    usable = [d for d in matching if d.usable]
    if not usable:
        return "; ".join(f"{d} unusable: {d.reason or 'no reason given'}" for d in matching)
    return min(usable, key=lambda d: d.index)


def options_for(options: Mapping[str, Any], target: Target, alt: DeviceTarget) -> dict[str, Any]:
    """The compile options of one alternative of ``target``.

    Options apply to every alternative, except those under a key naming an alternative: a
    mapping value keyed by the alternative as written in the target (``"gpu"``, ``"cpu@onnx"``,
    ``"gpu:1"``) or by its device kind holds options for that alternative only, so that
    ``Session(m, "gpu,cpu", options={"gpu": {"precision": "fp16"}, "cpu": {"threads": 4}})``
    passes each backend only what it declares. Per-alternative values win over shared ones; the
    exact alternative wins over its kind. A key that reads as a target but names no alternative is
    an :class:`InvalidOptionError`; a mapping under any other key is an ordinary option whose value
    is a dict (the tensorrt plugin's ``shapes``).
    """
    names = {str(a) for a in target.alternatives} | {a.kind for a in target.alternatives}
    nested = {k: v for k, v in options.items() if isinstance(v, Mapping) and (k in names or _reads_as_target(k))}
    unknown = sorted(set(nested) - names)
    if unknown:
        raise InvalidOptionError(
            f"options keyed by {', '.join(map(repr, unknown))}: target {str(target)!r} has no such alternative; "
            f"key per-alternative options by one of {', '.join(map(repr, sorted(names)))}"
        )
    out = {k: v for k, v in options.items() if k not in nested}
    for key in dict.fromkeys((alt.kind, str(alt))):
        out.update(nested.get(key, {}))
    return out


def _reads_as_target(key: Any) -> bool:
    try:
        parse_target(key)
    except InvalidTargetError:
        return False
    return True
