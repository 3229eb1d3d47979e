"""A backend that delegates to another one, for planting one fault at a time."""

from __future__ import annotations

import copy
from typing import Any

from mindinfer import Backend, BackendBase, Capabilities, Device, Executable, Model


class WrappingBackend(BackendBase):
    """Delegates devices and compile to ``inner``; subclasses change the model or capabilities."""

    def __init__(self, inner: Backend, name: str, capabilities: Capabilities | None = None) -> None:
        self.inner = inner
        self.name = name  # type: ignore[misc]
        self.device_kinds = tuple(inner.device_kinds)  # type: ignore[misc]
        self.priority = -100  # type: ignore[misc]  # never chosen for a bare 'cpu' target
        self.capabilities = capabilities or inner.capabilities

    def devices(self) -> list[Device]:
        return self.inner.devices()

    def rewrite(self, model: Model) -> Model:
        """The planted fault, as a graph rewrite; the default changes nothing."""
        return model

    def _compile(self, model: Model, device: Device, options: dict[str, Any]) -> Executable:
        return self.inner.compile(self.rewrite(copy.deepcopy(model)), device, options)
