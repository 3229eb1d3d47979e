"""mindinfer: run MindSpore MindIR models without MindSpore, on any device, through backend plugins.

import mindinfer as mi
sess = mi.Session("net.mindir", target="cpu")
outs = sess.run({"x": x})
"""

from __future__ import annotations

from ._checkpoint import CheckpointReport, CheckpointWarning
from ._loader import load
from ._placement import Attempt, Placement
from ._plugins import ENTRY_POINT_GROUP, PluginInfo, PluginRegistry, get_registry
from ._runs import RunControl, RunOptions
from .backend import (
    CONTRACT_VERSION,
    Backend,
    BackendBase,
    Capabilities,
    Device,
    Executable,
    ExecutableBase,
    Gap,
    OpTable,
    Option,
    Requirements,
    plugin_message,
)
from .errors import (
    ArgumentError,
    BackendUnavailableError,
    InvalidInputError,
    InvalidOptionError,
    InvalidTargetError,
    MindInferError,
    MindIRError,
    PluginError,
    RunCancelledError,
    UnsupportedOpError,
)
from .hookspecs import hookimpl
from .ir import ForeignModel, Model, TensorSpec
from .session import Session, open_model
from .targets import Target, parse_target

__version__ = "0.1.0"

__all__ = [
    "CONTRACT_VERSION",
    "ENTRY_POINT_GROUP",
    "ArgumentError",
    "Attempt",
    "Backend",
    "BackendBase",
    "BackendUnavailableError",
    "Capabilities",
    "CheckpointReport",
    "CheckpointWarning",
    "Device",
    "Executable",
    "ExecutableBase",
    "ForeignModel",
    "Gap",
    "InvalidInputError",
    "InvalidOptionError",
    "InvalidTargetError",
    "MindIRError",
    "MindInferError",
    "Model",
    "OpTable",
    "Option",
    "Placement",
    "PluginError",
    "PluginInfo",
    "PluginRegistry",
    "Requirements",
    "RunCancelledError",
    "RunControl",
    "RunOptions",
    "Session",
    "Target",
    "TensorSpec",
    "UnsupportedOpError",
    "get_registry",
    "hookimpl",
    "list_devices",
    "list_plugins",
    "load",
    "open_model",
    "parse_target",
    "plugin_message",
]


def list_plugins() -> list[PluginInfo]:
    """Every discovered plugin with its status (loaded, failed with its error, blocked)."""
    return get_registry().plugins


def list_devices() -> list[tuple[str, Device]]:
    """``(backend name, device)`` for every device of every loaded backend, usable or not."""
    out: list[tuple[str, Device]] = []
    for backend in get_registry().backends():
        try:
            devices = list(backend.devices())
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 -- a broken probe is listed, not raised
            kind = backend.device_kinds[0] if backend.device_kinds else "?"
            devices = [Device(kind, 0, usable=False, reason=f"devices() raised {type(exc).__name__}: {exc}")]
        out.extend((backend.name, d) for d in devices)
    return out
