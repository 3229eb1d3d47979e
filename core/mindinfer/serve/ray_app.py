"""Scale-out on Ray Serve: each model version is a deployment with replicas (and autoscaling), and an
ingress deployment speaks KServe v2 REST (and MindSpore Serving RESTful) with the same FastAPI app as
the built-in server.

    from mindinfer.serve import ModelRepository
    from mindinfer.serve.ray_app import RayOptions, build_ray_app
    from ray import serve
    serve.run(build_ray_app(ModelRepository.open("models/"), RayOptions(replicas=2)), route_prefix="/")

Batching uses Ray's ``@serve.batch``, which collects requests per replica; :class:`BatchRunner`
(plain Python, tested without Ray) runs each batch. ``max_ongoing_requests`` is kept at twice the
batch size at least: below the batch size Ray's batches can never fill.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MindInferError
from .errors import ModelNotReadyError, ServeConfigError
from .hub import Hub
from .metrics import Metrics
from .model import ModelEntry, ServedModel, ServeSettings, options_of
from .repository import ModelRepository, ModelVersion

__all__ = ["ModelReplica", "RayOptions", "RemoteModel", "build_ray_app", "run_ray"]

log = logging.getLogger("mindinfer.serve")

#: How long a readiness query waits for a model's replicas to say whether they compiled it; a
#: replica still starting (compiling) past that is reported not ready, and asked again next time.
PROBE_SECONDS = 2.0


@dataclass(frozen=True)
class RayOptions:
    """Replicas per model; ``max_replicas`` > ``replicas`` turns autoscaling on between the two."""

    replicas: int = 1
    max_replicas: int = 0
    address: str | None = None
    num_cpus: float = 1.0  # CPUs Ray reserves for each replica (and for the ingress)

    def deployment_options(self, batch: int) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "max_ongoing_requests": max(2 * batch, 8),
            "ray_actor_options": {"num_cpus": self.num_cpus},
        }
        if self.max_replicas > self.replicas:
            opts["autoscaling_config"] = {
                "min_replicas": self.replicas,
                "max_replicas": self.max_replicas,
                "target_ongoing_requests": max(batch, 2),
            }
        else:
            opts["num_replicas"] = self.replicas
        return opts


class ModelReplica:
    """One replica of one model version: a compiled session, batched with ``@serve.batch``."""

    def __init__(self, mv: ModelVersion, settings: ServeSettings) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max(1, settings.workers))
        self.model = ServedModel(mv, settings, self._executor)
        self.model.load()
        self.runner = self.model.runner  # None: not batched (or not loaded)
        self._sizes: list[int] = []
        if self.runner is not None:
            wait = mv.config.batch_wait_ms if mv.config.batch_wait_ms is not None else settings.batch_wait_ms
            self._batched.set_max_batch_size(self.runner.max_batch_size)  # type: ignore[attr-defined]
            self._batched.set_batch_wait_timeout_s(wait / 1000.0)  # type: ignore[attr-defined]

    async def infer(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        self.model.check_ready()
        if self.runner is None:
            return await self.model.infer(arrays)
        result = await self._batched(arrays)  # type: ignore[arg-type] # @serve.batch takes one item
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[no-any-return]

    def load_error(self) -> str | None:
        """Why this replica could not compile its model (None: it did)."""
        return self.model.error

    def batch_sizes(self) -> list[int]:
        """Requests per ``@serve.batch`` call in this replica so far (for monitoring and tests)."""
        return list(self._sizes)

    async def _batched(self, requests: list[list[np.ndarray]]) -> list[Any]:
        # Wrapped by @serve.batch in build_ray_app, per model (Ray collects the requests).
        assert self.runner is not None
        self._sizes.append(len(requests))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.runner.run, requests)


class RemoteModel(ModelEntry):
    """A model version as the ingress sees it: specs read from the file, runs in a replica."""

    def __init__(self, mv: ModelVersion, settings: ServeSettings, handle: Any) -> None:
        from ..session import open_model

        self.name, self.version = mv.name, mv.version
        self.platform = "mindinfer_" + mv.path.suffix.lstrip(".").lower()
        self._handle = handle
        self._answered = False  # a replica has said whether it compiled the model
        self._starting = False  # asked, and no replica has answered yet
        self.inputs, self.outputs = [], []
        keys = {k: v for k, v in {**settings.load_args, **mv.config.load_args}.items() if k.startswith("dec_")}
        try:
            model = open_model(mv.path, dec_key=keys.get("dec_key"), dec_mode=keys.get("dec_mode", "AES-GCM"))
            options = options_of(mv.config.target or settings.target, {**settings.options, **mv.config.options})
            limit, _ = self.describe(list(model.inputs), list(model.outputs), mv, settings, options)
        except MindInferError as exc:
            self.error = str(exc)  # reported as not ready
            return
        self.max_batch_size = limit
        self.error = None

    @property
    def ready(self) -> bool:
        return self.error is None and not self._starting

    async def refresh(self) -> None:
        # Replicas compile in their constructors; one that cannot records why instead of failing
        # (a failing constructor would have Ray retry it forever). Asked once it answers.
        if self._answered or self.error is not None:
            return

        async def ask() -> str | None:
            return await self._handle.load_error.remote()  # type: ignore[no-any-return]

        try:
            error = await asyncio.wait_for(ask(), PROBE_SECONDS)
        except Exception:  # noqa: BLE001 -- not up yet (or restarting): not ready, asked again next time
            self._starting = True
            return
        self._answered, self._starting = True, False
        if error is not None:
            self.error = error

    async def infer(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return await self._handle.infer.remote(arrays)  # type: ignore[no-any-return]
        except MindInferError as exc:
            # Ray re-raises a replica's error as a subclass of its type whose text is a traceback;
            # the protocols answer with the replica's own message.
            cause = getattr(exc, "cause", exc)
            if isinstance(cause, ModelNotReadyError):
                self.error = cause.reason  # the replica could not compile it: not ready from now on
            raise cause from None


class Ingress:
    """The HTTP ingress: the server's FastAPI app over :class:`RemoteModel` entries."""

    def __init__(
        self, versions: list[ModelVersion], settings: ServeSettings, token: str | None, max_bytes: int, *handles: Any
    ) -> None:
        self.hub = Hub([RemoteModel(mv, settings, h) for mv, h in zip(versions, handles)], Metrics())
        self.token, self.max_bytes = token, max_bytes

    def __serve_build_asgi_app__(self) -> Any:
        from .rest import build_app

        return build_app(self.hub, self.token, self.max_bytes)


def build_ray_app(
    repo: ModelRepository,
    options: RayOptions | None = None,
    settings: ServeSettings | None = None,
    token: str | None = None,
    max_request_bytes: int = 64 << 20,
) -> Any:
    """A Ray Serve application: one deployment per model version, plus the v2 REST ingress."""
    from ray import serve

    options = options or RayOptions()
    settings = settings or ServeSettings()
    handles = []
    for mv in repo.versions:
        batch = mv.config.max_batch_size if mv.config.max_batch_size is not None else settings.max_batch_size
        replica_cls = type(
            "ModelReplica",
            (ModelReplica,),
            # Up to --workers batches at once, as the built-in server runs them.
            {
                "_batched": serve.batch(max_batch_size=max(batch, 1), max_concurrent_batches=settings.workers)(
                    ModelReplica._batched
                )
            },
        )
        dep: Any = serve.deployment(replica_cls, name=f"{mv.name}-v{mv.version}", **options.deployment_options(batch))
        handles.append(dep.bind(mv, settings))
    ingress: Any = serve.deployment(
        serve.ingress()(Ingress),
        name="ingress",
        max_ongoing_requests=1000,
        ray_actor_options={"num_cpus": options.num_cpus},
    )
    return ingress.bind(list(repo.versions), settings, token, max_request_bytes, *handles)


def run_ray(repo: ModelRepository, config: Any, options: RayOptions) -> int:
    """``mindinfer serve --ray``: start (or join) Ray, run the app on Ray's HTTP proxy, wait for Ctrl-C."""
    try:
        import ray
        from ray import serve
    except ImportError:
        raise ServeConfigError("mindinfer serve --ray needs Ray Serve: pip install 'mindinfer[ray]'") from None
    if config.tls() is not None:
        raise ServeConfigError("--tls-cert/--tls-key: Ray's HTTP proxy is set up by Ray; put TLS in front of it")
    ray.init(address=options.address, include_dashboard=False)
    # SIGTERM as Ctrl-C, so that Serve and a local Ray started here are shut down, not orphaned
    # (set after ray.init, which installs a handler of its own that aborts the process).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        cpus = float(ray.cluster_resources().get("CPU", 0))
        most = max(options.replicas, options.max_replicas)
        need = options.num_cpus * (most * len(repo.versions) + 1)
        if need > cpus:
            raise ServeConfigError(
                f"{len(repo.versions)} model version(s) x {most} replica(s) and the ingress, at {options.num_cpus} "
                f"CPU each, need {need:g} CPUs; the Ray cluster has {cpus:g}: lower --ray-cpus or --replicas, "
                "or add nodes"
            )
        serve.start(http_options={"host": config.host, "port": config.http_port})
        app = build_ray_app(repo, options, config.settings, config.auth_token, config.max_request_bytes)
        serve.run(app, name="mindinfer", route_prefix="/")
        log.info("serving on Ray: HTTP on http://%s:%s (Ctrl-C stops)", config.host, config.http_port)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        log.info("shutting down Ray Serve")
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0
