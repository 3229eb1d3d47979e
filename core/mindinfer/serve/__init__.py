"""``mindinfer serve``: an online inference service for MindIR (and ONNX) models.

The HTTP and gRPC servers need the ``serve`` extra (``pip install 'mindinfer[serve]'``); Ray Serve
scale-out needs ``ray`` (``pip install 'mindinfer[ray]'``). This package imports neither until a
server is started, so ``import mindinfer.serve`` and the repository and batching classes work with
core alone.

    from mindinfer.serve import ModelRepository, ServerConfig, run_server
    repo = ModelRepository.open("models/", default_target="cpu")
    run_server(repo, ServerConfig(http_port=8000, grpc_port=8001))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .batching import BatchRunner, supported_batch
from .errors import ModelNotFoundError, ModelNotReadyError, RequestError, RequestTooLargeError, ServeConfigError
from .repository import ModelConfig, ModelRepository, ModelVersion, VersionPolicy, open_session

if TYPE_CHECKING:
    from .server import ServerConfig, run_server

__all__ = [
    "BatchRunner",
    "ModelConfig",
    "ModelNotFoundError",
    "ModelNotReadyError",
    "ModelRepository",
    "ModelVersion",
    "RequestError",
    "RequestTooLargeError",
    "ServeConfigError",
    "ServerConfig",
    "VersionPolicy",
    "open_session",
    "run_server",
    "supported_batch",
]


def __getattr__(name: str) -> Any:
    # The server pulls in FastAPI, uvicorn and grpcio: only on first use.
    if name in ("ServerConfig", "run_server"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module 'mindinfer.serve' has no attribute {name!r}")
