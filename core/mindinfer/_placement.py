"""Choosing a backend and device for a target, and recording what was chosen and why.

Rules (no silent fallback anywhere):

* a bare kind (``gpu``) uses the usable plugin with the highest priority for that kind that reads
  the model's format; if that plugin refuses the model at compile time (``UnsupportedOpError``, or
  a ``PluginError`` from a plugin that crashed), the next plugin for the same kind is tried and the
  refusal is recorded in :attr:`Placement.fallbacks` -- another plugin, never another device; if
  none is usable, :class:`BackendUnavailableError` names every plugin tried and why;
* ``kind@plugin`` uses exactly that plugin and never moves; a plugin that failed to load raises its
  ``PluginError``;
* a plugin's ``compile`` raising anything that is not a :class:`MindInferError` becomes a
  ``PluginError`` naming the plugin, with the original exception as its ``__cause__``;
* a comma list is the user's own fallback order: each alternative that cannot be used is recorded
  in :attr:`Placement.fallbacks` with the reason, and the next one is tried;
* ``auto`` tries accelerators (Ascend, then GPU, then other kinds) before the CPU and skips plugins
  whose declared capabilities do not cover the model; the reason for its choice is recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._plugins import PluginRegistry
from .backend import Backend, Device, Executable, check_executable
from .errors import BackendUnavailableError, InvalidTargetError, MindInferError, PluginError, UnsupportedOpError
from .ir import ForeignModel, Model
from .targets import DeviceTarget, Target, candidates, options_for, pick_device

__all__ = ["Attempt", "Placement", "compile_on", "place"]


@dataclass(frozen=True)
class Attempt:
    """A target alternative (or a plugin within one) that was not used, and why."""

    target: str
    plugin: str | None
    reason: str

    def __str__(self) -> str:
        who = f" (plugin {self.plugin!r})" if self.plugin else ""
        return f"{self.target}{who}: {self.reason}"


@dataclass(frozen=True)
class Placement:
    """Which plugin and device run which nodes, the target that chose them, and fallbacks taken."""

    requested: str
    target: str
    plugin: str
    device: Device
    reason: str
    nodes: tuple[str, ...] = ()
    fallbacks: tuple[Attempt, ...] = field(default=())

    @property
    def fallback_taken(self) -> bool:
        return bool(self.fallbacks)

    def to_json(self) -> dict[str, Any]:
        """What this placement says, as JSON (``run``/``bench --json``)."""
        return {
            "requested": self.requested,
            "target": self.target,
            "plugin": self.plugin,
            "device": str(self.device),
            "reason": self.reason,
            "fallbacks": [{"target": a.target, "plugin": a.plugin, "reason": a.reason} for a in self.fallbacks],
        }

    def assignments(self) -> dict[str, str]:
        """Node name -> ``plugin:device`` label (one backend runs the whole model today)."""
        label = f"{self.plugin}:{self.device}"
        return {n: label for n in self.nodes}

    def __str__(self) -> str:
        text = f"{self.device} via plugin {self.plugin!r} ({len(self.nodes)} nodes) for target {self.requested!r}"
        text += f": {self.reason}"
        if self.fallbacks:
            text += "; not used: " + "; ".join(str(a) for a in self.fallbacks)
        return text


_Choice = tuple[Backend, Device, Executable, str]


def place(
    model: Model | ForeignModel, target: Target, registry: PluginRegistry, options: Mapping[str, Any]
) -> tuple[Executable, Placement]:
    """Compile ``model`` for the first usable alternative of ``target``."""
    skipped: list[Attempt] = []
    errors: list[MindInferError] = []
    for alt in target.alternatives:
        try:
            backend, device, exe, reason = _place_one(model, alt, registry, options_for(options, target, alt), skipped)
        except InvalidTargetError:
            raise  # a typo is never a reason to fall back
        except (BackendUnavailableError, UnsupportedOpError, PluginError) as exc:
            if not target.is_fallback_list:
                raise
            errors.append(exc)
            skipped.append(Attempt(str(alt), getattr(exc, "plugin", None), str(exc)))
            continue
        if target.is_fallback_list and skipped:
            n = target.alternatives.index(alt) + 1
            reason = f"fallback to {alt} (alternative {n} of {len(target.alternatives)}): {reason}"
        placement = Placement(
            requested=str(target),
            target=str(alt),
            plugin=backend.name,
            device=device,
            reason=reason,
            nodes=tuple(n.name for g in model.graphs for n in g.nodes),
            fallbacks=tuple(skipped),
        )
        return exe, placement
    tried = "; ".join(str(a) for a in skipped)
    raise BackendUnavailableError(f"no alternative of target {str(target)!r} can run this model: {tried}")


def _place_one(
    model: Model | ForeignModel,
    alt: DeviceTarget,
    registry: PluginRegistry,
    options: Mapping[str, Any],
    skipped: list[Attempt],
) -> _Choice:
    backends = registry.find(alt.plugin) if alt.plugin else registry.backends()
    ordered = candidates(alt, backends)
    if not ordered:
        raise BackendUnavailableError(_nothing_for(alt, backends, registry))
    reasons: list[str] = []
    auto_skips: list[Attempt] = []
    refused: list[tuple[Backend, MindInferError]] = []
    for kind, backend in ordered:
        lacks = _lacks(backend, model, everything=alt.is_auto)
        by_option = "" if lacks or alt.plugin else _refuses_options(backend, ordered, options)
        why_not = lacks or by_option
        device = None if why_not else pick_device(backend, kind, alt)
        if isinstance(device, str):
            why_not, device = device, None
        if device is None:
            reasons.append(f"plugin {backend.name!r} ({kind}): {why_not}")
            # Recorded where it changed which plugin runs: a plugin passed over for an option is
            # one the user would otherwise have got.
            if alt.is_auto or refused or by_option:
                auto_skips.append(Attempt(f"{'auto->' if alt.is_auto else ''}{kind}", backend.name, why_not))
            continue
        try:
            exe = compile_on(backend, model, device, options)
        except (UnsupportedOpError, PluginError) as exc:
            # A pinned plugin never moves. Otherwise the next plugin for the same kind is tried,
            # and the placement records the refusal: a different plugin, never a different device.
            if alt.plugin:
                raise
            refused.append((backend, exc))
            auto_skips.append(Attempt(f"auto->{kind}" if alt.is_auto else kind, backend.name, str(exc)))
            reasons.append(f"plugin {backend.name!r} ({kind}): {exc}")
            continue
        skipped.extend(auto_skips)
        if alt.is_auto:
            reason = f"auto chose {kind} (plugin {backend.name!r}, priority {backend.priority})"
            if auto_skips:
                reason += f" after skipping {len(auto_skips)} preferred option(s)"
        elif alt.plugin:
            reason = f"plugin {backend.name!r} pinned by the target"
        else:
            reason = f"highest-priority usable plugin for {kind} (priority {backend.priority})"
            if auto_skips and not refused:
                names = ", ".join(repr(a.plugin) for a in auto_skips)
                reason = (
                    f"highest-priority plugin for {kind} that accepts the options given (priority "
                    f"{backend.priority}); passed over {names}"
                )
            if refused:
                names = ", ".join(repr(b.name) for b, _ in refused)
                reason = (
                    f"first plugin for {kind} that compiled the model (priority {backend.priority}); "
                    f"refused by plugin(s) {names}"
                )
        return backend, device, exe, reason
    if refused:
        raise _refusal(refused)
    raise BackendUnavailableError(
        f"target {str(alt)!r} is not usable here; plugins tried: " + "; ".join(reasons) + _failed_note(registry)
    )


def compile_on(backend: Backend, model: Model | ForeignModel, device: Device, options: Mapping[str, Any]) -> Executable:
    """``backend.compile``, with anything but a mindinfer error wrapped in :class:`PluginError`.

    A plugin's bare exception (``NotImplementedError``, ``ValueError``...) is a bug in the plugin or
    a model it cannot handle; either way the user gets one error naming the plugin, and the
    original stays attached as ``__cause__`` for the plugin's author.
    """
    try:
        exe = backend.compile(model, device, dict(options))
    except (MindInferError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # only KeyboardInterrupt escapes a plugin
        raise PluginError(
            f"plugin {backend.name!r} failed to compile the model for {device}: {type(exc).__name__}: {exc} "
            f"(a bug in the plugin; try another target, e.g. '{device.kind}@<other plugin>', see `mindinfer plugins`)"
        ) from exc
    try:
        return check_executable(exe, backend.name)
    except PluginError:
        # An executable that breaks the contract is a plugin bug like a crash in compile: its
        # resources are released, and a bare kind moves on to the next plugin.
        close = getattr(exe, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()
        raise


def _refusal(refused: list[tuple[Backend, MindInferError]]) -> MindInferError:
    """The error when every candidate plugin refused: the first one's, naming the others'."""
    first = refused[0][1]
    if len(refused) == 1:
        return first
    others = "; ".join(f"plugin {b.name!r}: {e}" for b, e in refused[1:])
    if isinstance(first, UnsupportedOpError):
        err: MindInferError = UnsupportedOpError(first.primitive, first.node, first.plugin, f"also refused by {others}")
    else:
        err = PluginError(f"{first}; also refused by {others}")
    err.__cause__ = first
    return err


def _refuses_options(backend: Backend, ordered: list[tuple[str, Backend]], options: Mapping[str, Any]) -> str:
    """Why a bare kind skips ``backend``: options it does not declare that another candidate does."""
    unknown = sorted(set(options) - {o.name for o in backend.options})
    if not unknown:
        return ""
    takers = [b for _, b in ordered if not set(options) - {o.name for o in b.options}]
    if not takers:
        return ""  # nobody declares them all: let the first candidate raise InvalidOptionError
    return f"does not accept option(s) {', '.join(unknown)} (plugin {takers[0].name!r} does)"


def _lacks(backend: Backend, model: Model | ForeignModel, everything: bool) -> str:
    """Why ``backend`` is skipped for ``model``: a format it does not read, or (``auto``) any gap."""
    gaps = backend.capabilities.missing(model)
    if not everything:
        gaps = [g for g in gaps if g.kind == "format"]
    if not gaps:
        return ""
    if gaps[0].kind == "format":
        return f"does not read {gaps[0].name} models (reads: {', '.join(sorted(backend.capabilities.formats))})"
    prims = sorted(g.name for g in gaps if g.kind == "primitive")
    if prims:
        return "does not support " + ", ".join(prims[:5]) + ("..." if len(prims) > 5 else "")
    return "does not support " + ", ".join(str(g) for g in gaps)


def _nothing_for(alt: DeviceTarget, backends: list[Backend], registry: PluginRegistry) -> str:
    if alt.plugin:
        kinds = sorted({k for b in backends for k in b.device_kinds})
        if not kinds:
            return (
                f"plugin {alt.plugin!r} provides no backend (it only adds commands); "
                "give a target with a backend plugin, e.g. 'cpu' or 'cpu@onnx' (see `mindinfer devices`)"
            )
        return f"plugin {alt.plugin!r} has no {alt.kind} devices (its kinds: {', '.join(kinds)}); try '{kinds[0]}@{alt.plugin}'"
    hint = {
        "gpu": "install a GPU backend plugin (e.g. the tensorrt plugin) with its CUDA toolkit",
        "ascend": "install the Ascend plugin and the CANN toolkit",
        "cpu": "reinstall mindinfer (it ships the native cpu plugin)",
    }.get(alt.kind, "install a plugin for it")
    env = registry.env_note()
    if env:
        hint = env
    what = "any device" if alt.is_auto else f"{alt.kind} devices"
    return f"no installed plugin provides {what} for target {str(alt)!r}; {hint}" + _failed_note(registry)


def _failed_note(registry: PluginRegistry) -> str:
    failed = [p for p in registry.plugins if p.status != "loaded"]
    if not failed:
        return ""
    return " (not loaded: " + "; ".join(f"{p.name}: {p.status}, {p.error_text}" for p in failed) + ")"
