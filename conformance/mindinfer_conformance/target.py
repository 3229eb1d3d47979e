"""The backend under test: a target string resolved to exactly one backend object and one device.

The suite talks to the backend object itself (``compile``, ``run``, ``close``) rather than through
:class:`mindinfer.Session`, because it checks the plugin contract, not core's conveniences around
it. A target must therefore name one backend: ``cpu``, ``cpu@onnx``, ``gpu:1``; fallback lists
(``gpu,cpu``) and ``auto`` are refused, since a conformance result for "whichever ran" means nothing.
A bare kind picks the first backend with a usable device of that kind in core's own candidate order
(:func:`mindinfer.targets.candidates`, :func:`mindinfer.targets.pick_device`), as Session does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mindinfer._plugins import PluginInfo, PluginRegistry, get_registry
from mindinfer.backend import Backend, Device
from mindinfer.errors import BackendUnavailableError, InvalidTargetError
from mindinfer.targets import candidates, parse_target, pick_device

__all__ = ["BackendUnderTest", "installed_backends", "resolve_target", "target_of"]


@dataclass
class BackendUnderTest:
    """One backend and the device the suite runs it on, plus where it came from (for reports)."""

    backend: Backend
    device: Device
    target: str
    registry: PluginRegistry
    plugin: PluginInfo | None = None

    @property
    def name(self) -> str:
        return str(self.backend.name)

    def describe(self) -> dict[str, Any]:
        caps = self.backend.capabilities
        return {
            "target": self.target,
            "backend": self.name,
            "plugin": self.plugin.name if self.plugin else None,
            "distribution": self.plugin.distribution if self.plugin else None,
            "version": self.plugin.version if self.plugin else None,
            # A simulated device (details["simulated"]) is labelled so in every report.
            "device": str(self.device) + (" [SIMULATED]" if self.device.details.get("simulated") else ""),
            "declared": {
                "primitives": len(caps.primitives),
                "dtypes": sorted(caps.dtypes),
                "dynamic_shapes": bool(caps.dynamic_shapes),
                "control_flow": bool(caps.control_flow),
            },
        }


def target_of(backend: Backend) -> str:
    """The target string that pins ``backend``: ``<first kind>@<backend name>``."""
    return f"{backend.device_kinds[0]}@{backend.name}"


def resolve_target(target: str, registry: PluginRegistry | None = None) -> BackendUnderTest:
    """Resolve ``target`` to one backend and a usable device, or raise saying why not."""
    registry = registry or get_registry()
    parsed = parse_target(target, extra_kinds=registry.device_kinds())
    if parsed.is_fallback_list:
        raise InvalidTargetError(
            f"conformance runs one backend at a time; {target!r} is a fallback list -- give one alternative "
            f"(e.g. {str(parsed.alternatives[0])!r}) or use --all"
        )
    alt = parsed.alternatives[0]
    if alt.is_auto:
        raise InvalidTargetError("conformance needs a definite backend, not 'auto'; e.g. 'cpu' or 'cpu@onnx', or --all")
    ordered = candidates(alt, registry.find(alt.plugin) if alt.plugin else registry.backends())
    if not ordered:
        raise BackendUnavailableError(
            f"no installed backend provides {alt.kind} devices for target {target!r}; see `mindinfer plugins`"
        )
    reasons = []
    for kind, backend in ordered:
        device = pick_device(backend, kind, alt)
        if isinstance(device, Device):
            plugin = _plugin_of(registry, backend)
            return BackendUnderTest(backend, device, target, registry, plugin)
        reasons.append(f"backend {backend.name!r}: {device}")
    raise BackendUnavailableError(f"target {target!r} has no usable device here: " + "; ".join(reasons))


def _plugin_of(registry: PluginRegistry, backend: Backend) -> PluginInfo | None:
    try:
        return registry.plugin_of(backend)
    except StopIteration:
        return None


def installed_backends(registry: PluginRegistry | None = None) -> list[Backend]:
    """Every loaded backend, by name (``--all``)."""
    registry = registry or get_registry()
    return sorted(registry.backends(), key=lambda b: b.name)
