"""The plugin module named by the ``mindinfer.backends`` entry point ``ascend``.

Registers the ascend backend and opens ``.om`` files (Ascend offline models) for ``Session(path)``.
Nothing here imports pyACL: the plugin loads, and reports why Ascend is unusable, on any machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mindinfer.hookspecs import hookimpl
from mindinfer.ir import ForeignModel


@hookimpl
def register_backends(register: Callable[[Any], None]) -> None:
    from .backend import AscendBackend

    register(AscendBackend())


@hookimpl
def open_foreign_model(path: str) -> ForeignModel | None:
    if not path.lower().endswith(".om"):
        return None
    from .backend import describe_om

    return describe_om(path)
