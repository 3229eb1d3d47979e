"""One served model version: its session, the names the protocols use, validation and batching."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._inputs import check_inputs
from .._plugins import get_registry
from ..errors import MindInferError
from ..ir import TensorSpec
from ..session import Session
from ..targets import candidates, options_for, parse_target
from .batching import BatchRunner, BatchStats, DynamicBatcher, batch_limit
from .errors import ModelNotReadyError, RequestError, ServeConfigError
from .repository import ModelVersion, open_session

__all__ = [
    "ModelEntry",
    "ServeSettings",
    "ServedModel",
    "batch_dim_of",
    "options_of",
    "padding_sizes",
    "split_threads",
]

log = logging.getLogger("mindinfer.serve")


@dataclass(frozen=True)
class ServeSettings:
    """Server-wide defaults a model's ``config.json`` may override."""

    target: str = "cpu"
    max_batch_size: int = 8
    batch_wait_ms: float = 0.0
    workers: int = 1
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # --option; config.json's win
    load_args: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False)  # may hold a key


def batch_dim_of(inputs: list[TensorSpec], outputs: list[TensorSpec]) -> int | None:
    """Dimension 0 when every input and output has one and the inputs agree on it: -1 (dynamic) or
    its fixed size; ``None`` when the model has no batch dimension."""
    tensors = inputs + outputs
    if not inputs or any(t.shape is None or len(t.shape) == 0 for t in tensors):
        return None
    firsts = {t.shape[0] for t in inputs if t.shape}
    if len(firsts) != 1:
        return None
    return firsts.pop()


class ModelEntry:
    """What the protocol front ends need of a model, whether it runs here or in a Ray replica."""

    name: str
    version: int
    platform: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    error: str | None = None
    max_batch_size: int = 0  # > 0: requests are batched (dimension 0 is dynamic)
    batch_dim: int | None = None  # see batch_dim_of
    with_batch_dim: bool = False  # MindSpore Serving: an instance is one sample of dimension 0

    @property
    def ready(self) -> bool:
        return self.error is None

    def check_ready(self) -> None:
        if self.error is not None:
            raise ModelNotReadyError(
                f"model {self.name!r} version {self.version} is not ready: {self.error}", self.error
            )

    def validate(self, given: Mapping[str, Any]) -> list[np.ndarray]:
        """Arrays in input order, or :class:`InvalidInputError` naming the input, before any batching."""
        arrays = check_inputs(self.inputs, given)
        if self.max_batch_size > 0:
            sizes = {a.shape[0] for a in arrays}
            if len(sizes) != 1:
                detail = ", ".join(f"{s.name}: {a.shape[0]}" for s, a in zip(self.inputs, arrays))
                raise RequestError(f"model {self.name!r}: inputs disagree on the batch size (dimension 0: {detail})")
            n = sizes.pop()
            if n > self.max_batch_size:
                raise RequestError(
                    f"model {self.name!r}: batch of {n} is over its max_batch_size {self.max_batch_size}; "
                    "send fewer samples per request"
                )
            if n == 0:
                raise RequestError(f"model {self.name!r}: the batch (dimension 0) is empty")
        return arrays

    async def infer(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    async def refresh(self) -> None:
        """Learns the model's state where it runs elsewhere (a Ray replica); nothing to learn here."""

    def describe(
        self,
        inputs: list[TensorSpec],
        outputs: list[TensorSpec],
        mv: ModelVersion,
        settings: ServeSettings,
        options: Mapping[str, Any],
    ) -> tuple[int, tuple[int, ...] | None]:
        """Takes the model's tensors (named as its config.json says) and how it batches; returns
        (most samples a batch holds, batch sizes to pad to); 0 when requests are not batched."""
        cfg = mv.config
        self.inputs = _renamed(inputs, cfg.inputs, "inputs", mv)
        self.outputs = _renamed(outputs, cfg.outputs, "outputs", mv)
        self.batch_dim = batch_dim_of(self.inputs, self.outputs)
        self.with_batch_dim = cfg.with_batch_dim if cfg.with_batch_dim is not None else self.batch_dim is not None
        limit = cfg.max_batch_size if cfg.max_batch_size is not None else settings.max_batch_size
        # Only a dynamic dimension 0 is batched; a fixed-batch model runs each request as it comes.
        if self.batch_dim != -1 or limit <= 1:
            return 0, None
        sizes = padding_sizes(cfg.batch_sizes, options)
        return batch_limit(limit, sizes), sizes


def _renamed(specs: list[TensorSpec], names: tuple[str, ...] | None, what: str, mv: ModelVersion) -> list[TensorSpec]:
    if names is None:
        return specs
    if len(names) != len(specs):
        raise ServeConfigError(
            f"{mv.path.parent.parent / 'config.json'}: {what} names {len(names)} tensors, the model has "
            f"{len(specs)} ({', '.join(str(s) for s in specs)})"
        )
    return [dataclasses.replace(s, name=n) for s, n in zip(specs, names)]


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def split_threads(target: str, options: Mapping[str, Any], workers: int, cpus: int) -> dict[str, Any]:
    """``options`` with the CPU shared between ``workers`` runs at once: each CPU alternative of
    ``target`` gets ``threads = cpus // workers`` (at least 1), as OpenVINO's throughput streams do.

    Without it, each of the concurrent runs starts a thread per core, and threads that wait for
    each other spin on cores the other runs and the HTTP front end need. Left as given when there
    is one worker, when ``threads`` is set, or when a plugin that may serve the alternative does
    not declare ``threads`` (passing it would change which plugin a bare ``cpu`` picks).
    """
    out = dict(options)
    if workers <= 1:
        return out
    try:
        parsed = parse_target(target)
        registry = get_registry()
        for alt in parsed.alternatives:
            if alt.kind != "cpu" or "threads" in options_for(options, parsed, alt):
                continue
            backends = registry.find(alt.plugin) if alt.plugin else registry.backends()
            plugins = [b for _, b in candidates(alt, backends)]
            if plugins and all(any(o.name == "threads" for o in b.options) for b in plugins):
                own = options.get(str(alt))
                out[str(alt)] = {**(own if isinstance(own, Mapping) else {}), "threads": max(1, cpus // workers)}
    except MindInferError:
        return dict(options)  # loading the model reports the bad target or plugin, with its words
    return out


def options_of(target: str, options: Mapping[str, Any], alternative: str | None = None) -> dict[str, Any]:
    """The options the ``alternative`` of ``target`` compiles with (the first one when not given):
    per-alternative options (``{"gpu": {"shapes": ...}}``, ``--option gpu/shapes=...``) included."""
    parsed = parse_target(target)
    alt = next((a for a in parsed.alternatives if str(a) == alternative), parsed.alternatives[0])
    return options_for(options, parsed, alt)


def padding_sizes(sizes: tuple[int, ...] | None, options: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The batch sizes to pad to: config.json's ``batch_sizes``; else what the backend options say it
    runs: the ascend plugin's ATC gears (``batch_sizes``) or the range of dimension 0 that the
    tensorrt plugin's optimization profiles allow (``shapes``: ``{input: {"min", "opt", "max"}}``);
    else any size."""
    if sizes is not None:
        return sizes
    gears = options.get("batch_sizes")
    if isinstance(gears, (list, tuple)) and gears and all(isinstance(g, int) and g >= 1 for g in gears):
        return tuple(sorted(set(gears)))
    shapes = options.get("shapes")
    if isinstance(shapes, Mapping) and shapes:
        try:
            low = max(int(p["min"][0]) for p in shapes.values())
            high = min(int(p["max"][0]) for p in shapes.values())
        except (KeyError, IndexError, TypeError, ValueError):
            return None  # the backend itself reports a malformed option
        if 1 <= low <= high:
            return tuple(range(low, high + 1))
    return None


class ServedModel(ModelEntry):
    """A model version compiled in this process; a failed load leaves it not ready, with the reason."""

    def __init__(
        self,
        mv: ModelVersion,
        settings: ServeSettings,
        executor: Executor,
        on_batch: Callable[[ModelEntry, BatchStats], None] | None = None,
        on_run: Callable[[ModelEntry, int, int], None] | None = None,
    ) -> None:
        self.mv = mv
        self.name, self.version = mv.name, mv.version
        self.platform = "mindinfer_" + mv.path.suffix.lstrip(".").lower()
        self.inputs, self.outputs = [], []
        self.placement = ""
        self._settings = settings
        self._executor = executor
        self._on_batch = on_batch
        self._on_run = on_run
        self._session: Session | None = None
        self._batcher: DynamicBatcher | None = None
        self.runner: BatchRunner | None = None  # when batched: what runs a batch (Ray replicas call it)
        self._running: asyncio.Semaphore | None = None  # unbatched: at most `workers` runs at once
        self.error = "loading"

    def load(self) -> None:
        cfg, s = self.mv.config, self._settings
        target = cfg.target or s.target
        options = split_threads(target, {**s.options, **cfg.options}, s.workers, usable_cpus())
        try:
            sess = open_session(self.mv.path, target, options, **{**s.load_args, **cfg.load_args})
            placed = options_of(target, options, sess.placement.target)
            limit, sizes = self.describe(sess.inputs, sess.outputs, self.mv, s, placed)
        except MindInferError as exc:
            self.error = str(exc)
            log.error("model %s version %s: not ready: %s", self.name, self.version, exc)
            return
        self._session = sess
        self.placement = str(sess.placement)
        if limit:
            self.runner = BatchRunner(sess.run, limit, sizes, self._ran)
            self.max_batch_size = limit
            wait = cfg.batch_wait_ms if cfg.batch_wait_ms is not None else s.batch_wait_ms
            self._batcher = DynamicBatcher(self.runner, self._executor, wait, s.workers, self._stats)
        self.error = None
        batching = f"batching up to {self.max_batch_size}" if self._batcher else "not batched"
        if s.workers > 1:
            split = options != {**s.options, **cfg.options}
            batching += f"; {s.workers} runs at once" + (" (CPU threads divided between them)" if split else "")
        log.info("model %s version %s: ready on %s; %s", self.name, self.version, self.placement, batching)

    def _ran(self, samples: int, padded: int) -> None:
        if self._on_run is not None:
            self._on_run(self, samples, padded)

    def _stats(self, stats: BatchStats) -> None:
        if self._on_batch is not None:
            self._on_batch(self, stats)

    async def infer(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        self.check_ready()
        if self._batcher is not None:
            return await self._batcher.submit(arrays)
        assert self._session is not None
        enqueued = time.perf_counter()
        loop = asyncio.get_running_loop()
        sess = self._session
        if self._running is None:
            self._running = asyncio.Semaphore(max(1, self._settings.workers))

        def run() -> tuple[list[np.ndarray], float, float]:
            started = time.perf_counter()
            return sess.run(arrays), started, time.perf_counter()

        # As many runs at once as with batching: more only divide the same cores between them.
        async with self._running:
            outs, started, finished = await loop.run_in_executor(self._executor, run)
        samples = arrays[0].shape[0] if arrays and arrays[0].ndim else 1
        self._ran(samples, samples)
        self._stats(BatchStats(samples, (started - enqueued,), finished - started))
        return outs

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
        if self._session is not None:
            self._session.close()
