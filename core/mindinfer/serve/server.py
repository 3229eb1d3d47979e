"""Running the server: load every model, serve HTTP (uvicorn) and gRPC on one asyncio loop, and on
SIGINT/SIGTERM stop taking requests, finish those in flight, and exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from .errors import ServeConfigError
from .grpc_server import build_grpc_server
from .hub import Hub
from .metrics import Metrics
from .model import ServedModel, ServeSettings
from .repository import ModelRepository
from .rest import build_app
from .shm import SHM_DIR, SharedMemoryRegions

__all__ = ["ServerConfig", "load_models", "run_server"]

log = logging.getLogger("mindinfer.serve")


@dataclass(frozen=True)
class ServerConfig:
    """Where and how the server listens. ``grpc_port`` 0 turns gRPC off."""

    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    auth_token: str | None = None
    max_request_bytes: int = 64 << 20
    tls_cert: Path | None = None
    tls_key: Path | None = None
    grace_seconds: float = 30.0
    settings: ServeSettings = field(default_factory=ServeSettings)

    def tls(self) -> tuple[bytes, bytes] | None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ServeConfigError("TLS needs both --tls-cert and --tls-key")
        if self.tls_cert is None or self.tls_key is None:
            return None
        try:
            return self.tls_key.read_bytes(), self.tls_cert.read_bytes()
        except OSError as exc:
            raise ServeConfigError(f"cannot read the TLS key or certificate: {exc}") from None


def load_models(
    repo: ModelRepository, settings: ServeSettings, executor: ThreadPoolExecutor, metrics: Metrics
) -> list[ServedModel]:
    """Every model version of the repository; one that fails to load is kept, not ready, with its error."""
    models = []
    for mv in repo.versions:
        log.info("model %s version %s: loading %s", mv.name, mv.version, mv.path)
        m = ServedModel(mv, settings, executor, metrics.on_batch, metrics.on_run)
        m.load()
        models.append(m)
    return models


def _event_loop_runner() -> Any:
    # uvloop (part of the serve extra where it builds) halves the event loop's share of each request.
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


class _Uvicorn(uvicorn.Server):
    # The signals belong to run_server, which shuts gRPC and the batchers down too.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # older uvicorn
        return None


def run_server(repo: ModelRepository, config: ServerConfig) -> int:
    """Serve until SIGINT or SIGTERM; returns the exit status."""
    tls = config.tls()
    settings = config.settings
    executor = ThreadPoolExecutor(
        max_workers=max(4, settings.workers * len(repo.versions) + 2), thread_name_prefix="infer"
    )
    metrics = Metrics()
    models = load_models(repo, settings, executor, metrics)
    if not any(m.ready for m in models):
        log.error("no model is ready; serving anyway so that clients see each model's error")
    # Shared memory is Linux's /dev/shm; elsewhere the extension is not offered.
    hub = Hub(models, metrics, SharedMemoryRegions() if SHM_DIR.is_dir() else None)
    try:
        return _event_loop_runner()(_serve(hub, models, config, tls))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


async def _serve(hub: Hub, models: list[ServedModel], config: ServerConfig, tls: tuple[bytes, bytes] | None) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    grpc_server = None
    if config.grpc_port:
        address = f"{config.host}:{config.grpc_port}"
        grpc_server, port = build_grpc_server(hub, address, config.auth_token, config.max_request_bytes, tls)
        if port == 0:
            raise ServeConfigError(f"gRPC cannot listen on {address} (is the port in use?)")
        await grpc_server.start()
    app = build_app(hub, config.auth_token, config.max_request_bytes)
    uv_config: dict[str, Any] = {
        "host": config.host,
        "port": config.http_port,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "off",
        "timeout_graceful_shutdown": int(config.grace_seconds),
    }
    if tls is not None:
        uv_config.update(ssl_certfile=str(config.tls_cert), ssl_keyfile=str(config.tls_key))
    http = _Uvicorn(uvicorn.Config(app, **uv_config))
    http_task = loop.create_task(http.serve())
    while not http.started and not http_task.done():
        await asyncio.sleep(0.02)
    if http_task.done():
        if grpc_server is not None:
            await grpc_server.stop(0)
        raise ServeConfigError(f"HTTP cannot listen on {config.host}:{config.http_port} (is the port in use?)")
    scheme = "https" if tls else "http"
    grpc_text = f", gRPC on {config.host}:{config.grpc_port}" if grpc_server is not None else ""
    log.info("serving: HTTP on %s://%s:%s%s", scheme, config.host, config.http_port, grpc_text)
    if config.auth_token:
        log.info("bearer token required (health endpoints exempt)")
    stop_task = loop.create_task(stop.wait())
    await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    log.info("shutting down: no new requests; finishing those in flight")
    hub.draining = True
    http.should_exit = True
    waits: list[Any] = [http_task]
    if grpc_server is not None:
        waits.append(grpc_server.stop(config.grace_seconds))
    await asyncio.gather(*waits, return_exceptions=True)
    for m in models:
        await m.close()
    stop_task.cancel()
    log.info("stopped")
    return 0


def token_from_env(given: str | None) -> str | None:
    return given or os.environ.get("MINDINFER_SERVE_TOKEN") or None
