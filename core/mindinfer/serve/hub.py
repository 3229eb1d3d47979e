"""The models a server answers for, looked up by name and version, and the server's own state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from .errors import ModelNotFoundError
from .metrics import Metrics
from .model import ModelEntry
from .shm import SharedMemoryRegions

__all__ = ["Hub"]

T = TypeVar("T")


class Hub:
    """Model entries by name and version; ``draining`` (not ready) once shutdown has begun.

    Requests already received still run while draining: the listeners are closed, not the models.
    ``shm`` holds the clients' shared-memory regions where the models run in this process.
    """

    def __init__(
        self,
        entries: Iterable[ModelEntry],
        metrics: Metrics | None = None,
        shm: SharedMemoryRegions | None = None,
    ) -> None:
        self.entries = list(entries)
        self.metrics = metrics
        self.shm = shm
        self.draining = False

    @property
    def extensions(self) -> list[str]:
        """The v2 protocol extensions this server speaks (server metadata)."""
        return ["binary_tensor_data"] + (["system_shared_memory"] if self.shm is not None else [])

    async def refresh(self) -> None:
        """Asks every model where it runs whether it loaded (before answering a readiness query)."""
        await asyncio.gather(*(e.refresh() for e in self.entries))

    @property
    def ready(self) -> bool:
        return not self.draining and any(e.ready for e in self.entries)

    def lookup(self, name: str, version: str | int | None = None) -> ModelEntry:
        """The entry for ``name`` and ``version``; no version (or 0) means the highest one served."""
        same = [e for e in self.entries if e.name == name]
        if not same:
            known = ", ".join(sorted({e.name for e in self.entries})) or "none"
            raise ModelNotFoundError(f"no model named {name!r}; the server has: {known}")
        text = str(version or "").strip()
        if text in ("", "0"):
            ready = [e for e in same if e.ready]
            return max(ready or same, key=lambda e: e.version)
        if not text.isdigit():
            raise ModelNotFoundError(f"model {name!r}: version {text!r} is not a number")
        for e in same:
            if e.version == int(text):
                return e
        have = ", ".join(str(e.version) for e in sorted(same, key=lambda e: e.version))
        raise ModelNotFoundError(f"model {name!r} has no version {text}; it has version(s) {have}")

    def versions(self, name: str) -> list[str]:
        return [str(e.version) for e in sorted(self.entries, key=lambda e: e.version) if e.name == name]

    async def track(self, entry: ModelEntry, call: Callable[[], Awaitable[T]]) -> T:
        """Runs ``call`` (decode, infer, encode) and counts it in the model's metrics."""
        start = time.perf_counter()
        failure: str | None = "error"
        try:
            result = await call()
            failure = None
            return result
        except BaseException as exc:
            failure = type(exc).__name__
            raise
        finally:
            if self.metrics is not None:
                self.metrics.done(entry.name, str(entry.version), time.perf_counter() - start, failure)
