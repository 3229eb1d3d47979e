"""``mindinfer serve``: the command's options; imports nothing beyond core until it runs."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from pathlib import Path
from typing import Any

from .._cli_common import add_load_args, add_option_arg, load_kwargs, parse_options
from ..errors import MindInferError

__all__ = ["add_serve_parser", "missing_modules"]

_SERVE_MODULES = {
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "grpc": "grpcio",
    "tritonclient.grpc": "tritonclient[grpc]",
    "prometheus_client": "prometheus-client",
}


def missing_modules(modules: dict[str, str]) -> list[str]:
    """Distributions (of ``module -> distribution``) whose module does not import here."""
    out = []
    for module, dist in modules.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            out.append(dist)
    return out


def add_serve_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve models over HTTP and gRPC (KServe v2, MindSpore Serving)",
        description="Serve a model file or a model repository (ROOT/NAME/VERSION/model.mindir) over KServe v2 "
        "REST and gRPC and MindSpore Serving's RESTful and gRPC protocols. Needs: pip install 'mindinfer[serve]'.",
    )
    p.add_argument("path", type=Path, help="a .mindir/.onnx file, or a model repository folder")
    p.add_argument("--target", "-t", default="cpu", help="device target for models whose config.json names none")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--grpc-port", type=int, default=8001, help="0 turns gRPC off")
    p.add_argument("--max-batch-size", type=int, default=8, help="samples per batch for dynamic-batch models (0: off)")
    p.add_argument("--batch-wait-ms", type=float, default=0.0, help="how long a batch waits to fill (default 0)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="batches (or requests) each model runs at once; on the CPU each run then gets cores/N threads",
    )
    add_option_arg(p, " for every model (its config.json's options win)")
    p.add_argument("--max-request-mb", type=float, default=64.0, help="largest request body accepted")
    p.add_argument("--auth-token", help="require 'Authorization: Bearer TOKEN' (or set MINDINFER_SERVE_TOKEN)")
    p.add_argument("--tls-cert", type=Path, help="PEM certificate: HTTPS and gRPC over TLS")
    p.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    add_load_args(p)
    p.add_argument("--ray", action="store_true", help="run the models as Ray Serve deployments (mindinfer[ray])")
    p.add_argument("--replicas", type=int, default=1, help="with --ray: replicas per model")
    p.add_argument("--max-replicas", type=int, default=0, help="with --ray: autoscale up to this many (0: fixed)")
    p.add_argument("--ray-address", help="with --ray: the cluster to join (default: start a local one)")
    p.add_argument("--ray-cpus", type=float, default=1.0, help="with --ray: CPUs Ray reserves per replica")
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    missing = missing_modules(_SERVE_MODULES)
    if missing:
        raise MindInferError(
            f"mindinfer serve needs the serving extra, which is not installed (missing {', '.join(missing)}): "
            "pip install 'mindinfer[serve]'"
        )
    for name, value, low in (
        ("--max-batch-size", args.max_batch_size, 0),
        ("--workers", args.workers, 1),
        ("--http-port", args.http_port, 1),
        ("--grpc-port", args.grpc_port, 0),
    ):
        if value < low:
            raise MindInferError(f"{name} must be >= {low}, got {value}")
    if args.batch_wait_ms < 0 or args.max_request_mb <= 0:
        raise MindInferError("--batch-wait-ms must be >= 0 and --max-request-mb > 0")
    logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("mindinfer.serve").setLevel(logging.INFO)

    from .model import ServeSettings
    from .repository import ModelRepository
    from .server import ServerConfig, token_from_env

    repo = ModelRepository.open(args.path)
    settings = ServeSettings(
        target=args.target,
        max_batch_size=args.max_batch_size,
        batch_wait_ms=args.batch_wait_ms,
        workers=args.workers,
        options=parse_options(args.option),
        load_args=load_kwargs(args),
    )
    config = ServerConfig(
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        auth_token=token_from_env(args.auth_token),
        max_request_bytes=int(args.max_request_mb * (1 << 20)),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        settings=settings,
    )
    if args.ray:
        from .ray_app import RayOptions, run_ray

        return run_ray(repo, config, RayOptions(args.replicas, args.max_replicas, args.ray_address, args.ray_cpus))
    from .server import run_server

    return run_server(repo, config)
