"""One error hierarchy: every error mindinfer raises derives from :class:`MindInferError`.

A message says what was wrong, where (file, node, input, plugin) and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "BackendUnavailableError",
    "InvalidInputError",
    "InvalidOptionError",
    "InvalidTargetError",
    "MindIRError",
    "MindInferError",
    "PluginError",
    "RunCancelledError",
    "UnsupportedOpError",
]


class MindInferError(Exception):
    """Root of every mindinfer error."""


class MindIRError(MindInferError):
    """A MindIR file could not be read: truncated, corrupt, encrypted, or inconsistent."""


class InvalidInputError(MindInferError, ValueError):
    """Inputs given to ``Session.run`` do not match the model's inputs."""


class InvalidTargetError(MindInferError, ValueError):
    """A device target string does not parse or names nothing installed."""


class InvalidOptionError(MindInferError, ValueError):
    """A backend option is unknown or has a bad value (see the backend's declared ``options``)."""


class UnsupportedOpError(MindInferError):
    """A backend cannot run a primitive of the graph (raised at compile time)."""

    def __init__(self, primitive: str, node: str, plugin: str, detail: str = "") -> None:
        self.primitive, self.node, self.plugin = primitive, node, plugin
        msg = f"plugin '{plugin}' does not support primitive '{primitive}' (node '{node}')"
        if detail:
            msg += f": {detail}"
        msg += "; try another target (see `mindinfer devices`) or `mindinfer inspect MODEL`"
        super().__init__(msg)


class ArgumentError(MindInferError):
    """A node's argument cannot be read by name: core has no signature for the primitive, the
    argument does not exist, a required one is absent, or its enum code is not one MindSpore defines.

    :meth:`mindinfer.backend.BackendBase.compile` turns it into an :class:`UnsupportedOpError` naming
    the plugin.
    """

    def __init__(self, primitive: str, node: str, detail: str) -> None:
        self.primitive, self.node, self.detail = primitive, node, detail
        where = f" (node '{node}')" if node else ""
        super().__init__(f"primitive '{primitive}'{where}: {detail}")


class BackendUnavailableError(MindInferError):
    """A backend or device exists but cannot be used here (missing toolkit, no device)."""


class PluginError(MindInferError):
    """A plugin failed to load, raised in its hook, or broke the plugin contract."""


class RunCancelledError(MindInferError):
    """A run was stopped early: its ``RunOptions`` time limit passed or ``cancel()`` was called."""
