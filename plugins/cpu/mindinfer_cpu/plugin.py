"""Entry point module of the cpu plugin (group ``mindinfer.backends``, name ``cpu``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mindinfer.hookspecs import hookimpl

from .backend import CpuBackend


@hookimpl
def register_backends(register: Callable[[Any], None]) -> None:
    """Register the numpy CPU backend."""
    register(CpuBackend())
