"""Dynamic batching in plain Python: the same classes serve the built-in server and Ray Serve replicas.

:class:`BatchRunner` runs a list of already-validated requests as one batch: it concatenates them
along dimension 0, pads the batch up to a size the backend supports (TensorRT profiles, Ascend
gears), runs it once and splits the outputs back per request. :class:`DynamicBatcher` collects
requests on an asyncio loop (up to ``max_batch_size`` samples, or ``batch_wait_ms`` of waiting) and
hands them to a :class:`BatchRunner` in a worker thread. Ray Serve's ``@serve.batch`` does the
collecting there and calls :meth:`BatchRunner.run` directly.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from ..errors import MindInferError, PluginError

__all__ = ["BatchRunner", "BatchStats", "DynamicBatcher", "batch_limit", "supported_batch"]

Arrays = list[np.ndarray]
RunFn = Callable[[Arrays], Arrays]


def supported_batch(n: int, sizes: Sequence[int] | None) -> int:
    """The smallest batch size ``>= n`` the backend runs (``n`` itself when any size runs)."""
    if not sizes:
        return n
    for s in sorted(sizes):
        if s >= n:
            return s
    raise MindInferError(f"batch of {n} is over the largest batch size the model runs ({max(sizes)})")


def batch_limit(max_batch_size: int, sizes: Sequence[int] | None) -> int:
    """The most samples a batch holds: ``max_batch_size``, never past the largest size the backend runs."""
    return min(max_batch_size, max(sizes)) if sizes else max_batch_size


def _sample_key(arrays: Arrays) -> tuple[tuple[int, ...], ...]:
    return tuple(a.shape[1:] for a in arrays)


class BatchRunner:
    """Runs requests (each a list of input arrays sharing dimension 0) as few backend runs as it can.

    Requests whose per-sample shapes differ (other dynamic dimensions) run in separate batches.
    ``batch_sizes`` are the sizes the backend accepts; a batch is padded up to the nearest one by
    repeating its last sample, and the padding's outputs are dropped. A run that fails fails every
    request in it, with the same error.
    """

    def __init__(
        self,
        run: RunFn,
        max_batch_size: int,
        batch_sizes: Sequence[int] | None = None,
        on_run: Callable[[int, int], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self._run = run
        self._on_run = on_run  # (samples, padded size) of each backend run
        self.batch_sizes = tuple(sorted(batch_sizes)) if batch_sizes else None
        self.max_batch_size = batch_limit(max_batch_size, self.batch_sizes)

    def run(self, requests: Sequence[Arrays]) -> list[Arrays | BaseException]:
        results: list[Arrays | BaseException | None] = [None] * len(requests)
        groups: dict[tuple[tuple[int, ...], ...], list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(_sample_key(req), []).append(i)
        for members in groups.values():
            for chunk in self._chunks(members, requests):
                try:
                    outs = self._run_chunk([requests[i] for i in chunk])
                except BaseException as exc:  # noqa: BLE001 -- handed to each waiting request
                    for i in chunk:
                        results[i] = exc
                else:
                    for i, out in zip(chunk, outs):
                        results[i] = out
        return [r if r is not None else RuntimeError("request was not run") for r in results]

    def _chunks(self, members: list[int], requests: Sequence[Arrays]) -> list[list[int]]:
        chunks: list[list[int]] = []
        current: list[int] = []
        total = 0
        for i in members:
            n = requests[i][0].shape[0]
            if current and total + n > self.max_batch_size:
                chunks.append(current)
                current, total = [], 0
            current.append(i)
            total += n
        if current:
            chunks.append(current)
        return chunks

    def _run_chunk(self, chunk: list[Arrays]) -> list[Arrays]:
        counts = [req[0].shape[0] for req in chunk]
        total = sum(counts)
        size = supported_batch(total, self.batch_sizes)
        inputs = []
        for k in range(len(chunk[0])):
            parts = [req[k] for req in chunk]
            if size > total:
                parts.append(np.repeat(parts[-1][-1:], size - total, axis=0))
            inputs.append(parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0))
        outs = self._run(inputs)
        if self._on_run is not None:
            self._on_run(total, size)
        for j, out in enumerate(outs):
            if out.ndim == 0 or out.shape[0] != size:
                raise PluginError(
                    f"output {j} has shape {list(out.shape)}: its dimension 0 is not the batch of {size}, "
                    "so this model cannot be batched; set max_batch_size 0 in its config.json"
                )
        split: list[Arrays] = []
        start = 0
        for n in counts:
            split.append([out[start : start + n] for out in outs])
            start += n
        return split


@dataclass(frozen=True)
class BatchStats:
    """What one batch was: how many samples, how long each request queued, how long it ran."""

    samples: int
    queue_seconds: tuple[float, ...]
    compute_seconds: float


@dataclass
class _Pending:
    arrays: Arrays
    samples: int
    future: asyncio.Future[Arrays]
    enqueued: float


class DynamicBatcher:
    """Collects requests on the running asyncio loop and runs them in batches on ``executor``.

    A batch closes when it holds ``max_batch_size`` samples or its first request has waited
    ``batch_wait_ms``; with 0 it takes whatever is queued at once (Triton's default: no delay, and
    batches grow by themselves while the previous batch runs). ``workers`` batches run at a time.
    """

    def __init__(
        self,
        runner: BatchRunner,
        executor: Executor,
        batch_wait_ms: float = 0.0,
        workers: int = 1,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        self.runner = runner
        self._executor = executor
        self._wait = batch_wait_ms / 1000.0
        self._workers = max(1, workers)
        self._on_batch = on_batch
        self._pending: deque[_Pending] = deque()
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._tasks = [asyncio.get_running_loop().create_task(self._worker()) for _ in range(self._workers)]

    async def submit(self, arrays: Arrays) -> Arrays:
        if self._wake is None:
            self.start()
        assert self._wake is not None
        future: asyncio.Future[Arrays] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(arrays, arrays[0].shape[0], future, time.perf_counter()))
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Runs what is queued, then stops the workers."""
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _worker(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        limit = self.runner.max_batch_size
        while True:
            while not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
            batch = [self._pending.popleft()]
            total = batch[0].samples
            deadline = batch[0].enqueued + self._wait
            while total < limit:
                while self._pending and total + self._pending[0].samples <= limit:
                    item = self._pending.popleft()
                    batch.append(item)
                    total += item.samples
                remaining = deadline - time.perf_counter()
                if total >= limit or remaining <= 0 or self._closing or self._pending:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
            if self._pending:
                self._wake.set()  # another worker may start on the rest now
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self.runner.run, [p.arrays for p in batch])
            except BaseException as exc:  # noqa: BLE001 -- never lose a waiting request
                results = [exc] * len(batch)
            finished = time.perf_counter()
            if self._on_batch is not None:
                self._on_batch(BatchStats(total, tuple(started - p.enqueued for p in batch), finished - started))
            for p, result in zip(batch, results):
                if p.future.done():
                    continue
                if isinstance(result, BaseException):
                    p.future.set_exception(result)
                else:
                    p.future.set_result(result)
