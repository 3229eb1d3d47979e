"""The HTTP front end (FastAPI): KServe v2 REST, MindSpore Serving RESTful, and ``/metrics``.

The same app serves in-process models and, under ``@serve.ingress``, Ray Serve deployments: it only
talks to a :class:`~mindinfer.serve.hub.Hub` of :class:`~mindinfer.serve.model.ModelEntry` objects.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .. import __version__
from ..errors import InvalidInputError, MindInferError
from . import mss, v2
from .errors import ModelNotFoundError, ModelNotReadyError, RequestError, RequestTooLargeError, too_big
from .hub import Hub
from .shm import NO_SHM, SharedMemoryRegions, is_loopback

__all__ = ["build_app", "infer_v2", "status_of"]

log = logging.getLogger("mindinfer.serve")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def status_of(exc: BaseException) -> int:
    """The HTTP status of an error, for the v2 protocol."""
    if isinstance(exc, RequestTooLargeError):
        return 413
    if isinstance(exc, InvalidInputError):  # RequestError included
        return 400
    if isinstance(exc, ModelNotFoundError):
        return 404
    if isinstance(exc, ModelNotReadyError):
        return 503
    return 500


def _is_health(path: str) -> bool:
    return path.startswith("/v2/health/") or (path.startswith("/v2/models/") and path.endswith("/ready"))


def _error(path: str, status: int, message: str) -> tuple[int, bytes]:
    # MindSpore Serving answers every error with HTTP 200 and {"error_msg": ...}.
    if path.startswith("/model/"):
        return 200, json.dumps({"error_msg": message}).encode()
    return status, json.dumps({"error": message}).encode()


class Front:
    """What every HTTP request passes first (ASGI): the bearer token (health endpoints exempt), the
    request size limit, and the v2 infer endpoint itself (:func:`infer_v2`).

    Infer requests are answered here, without FastAPI's routing, middleware and request objects:
    these took half of the event loop's time per request, more than a small model's run at batch 8
    (`benchmarks/bench_serve.py --model small`). Every other endpoint goes on to the FastAPI app.
    """

    def __init__(self, app: ASGIApp, token: str | None, max_bytes: int, hub: Hub | None = None) -> None:
        self.app, self.token, self.max_bytes, self.hub = app, token, max_bytes, hub

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        if self.token and not _is_health(path):
            given = headers.get(b"authorization", b"").decode("latin-1")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                await self._reply(send, path, 401, "missing or wrong bearer token (send 'Authorization: Bearer TOKEN')")
                return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._discard(receive, int(length))
            await self._reply(send, path, 413, self._too_big(int(length)))
            return
        if self.hub is not None and scope.get("method") == "POST":
            match = _INFER.fullmatch(path)
            if match is not None:
                await self._infer(match, headers, receive, send)
                return
        seen = 0
        started = False

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise RequestTooLargeError(self._too_big(seen, at_least=True))
            return message

        async def watched(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except RequestTooLargeError as exc:
            if not started:
                await self._reply(send, path, 413, str(exc))

    async def _infer(
        self,
        match: re.Match[str],
        headers: dict[bytes, bytes],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        header = headers.get(b"inference-header-content-length")
        body = await self._body(receive, send, match.group(0), header)
        if body is None:
            return
        assert self.hub is not None
        status, content, extra = await infer_v2(
            self.hub, match.group(1), match.group(2) or "", body, None if header is None else header.decode("latin-1")
        )
        out = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
        if extra is not None:
            out = [(b"content-type", b"application/octet-stream"), out[1]]
            out.append((b"inference-header-content-length", str(extra).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": content})

    async def _body(
        self,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
        path: str,
        header: bytes | None,
    ) -> bytes | memoryview | None:
        """The whole request body; None when the client went away or it was too big (answered here).

        Memory is taken as the body arrives, never on the word of its Content-Length. A body with
        binary tensors is put together in a buffer where they start aligned (:func:`v2.aligned_body`),
        since the model reads them there in place: that one copy replaces joining the chunks, and
        slicing each tensor out of the joined body would have been a second.
        """
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._reply(send, path, 413, self._too_big(seen, at_least=True))
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if header is not None and header.isdigit() and int(header) <= seen:
            return v2.aligned_body(chunks, int(header))
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _discard(self, receive: Callable[[], Awaitable[Any]], length: int) -> None:
        # A reply sent while the client is still writing its body often reaches it as a connection
        # reset instead of the 413; so a body up to a few times the limit is read and dropped first.
        if length > 16 * self.max_bytes:
            return
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return

    def _too_big(self, size: int, at_least: bool = False) -> str:
        return too_big(size, self.max_bytes, at_least)

    async def _reply(self, send: Callable[[Any], Awaitable[None]], path: str, status: int, message: str) -> None:
        status, body = _error(path, status, message)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_INFER = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")


def _v2_error(exc: BaseException) -> tuple[int, bytes]:
    if not isinstance(exc, MindInferError):
        log.exception("internal error", exc_info=exc)
    return status_of(exc), json.dumps({"error": str(exc) or type(exc).__name__}).encode()


async def infer_v2(
    hub: Hub, name: str, version: str, body: bytes | memoryview, header: str | None
) -> tuple[int, bytes, int | None]:
    """``POST /v2/models/{name}[/versions/{version}]/infer``: (status, body, the JSON header's length
    when binary outputs follow it)."""
    try:
        entry = hub.lookup(name, version)
        entry.check_ready()
    except MindInferError as exc:
        return (*_v2_error(exc), None)

    async def call() -> tuple[int, bytes, int | None]:
        if header is not None and not header.isdigit():
            raise RequestError(f"Inference-Header-Content-Length must be a byte count, got {header!r}")
        req = v2.decode_rest(body, int(header) if header is not None else None, hub.shm)
        arrays = entry.validate(req.inputs)
        outs = await entry.infer(arrays)
        return (200, *v2.encode_rest(entry, req, outs, hub.shm))

    try:
        return await hub.track(entry, call)
    except Exception as exc:  # noqa: BLE001 -- every failure becomes the protocol's error
        return (*_v2_error(exc), None)


def build_app(hub: Hub, token: str | None = None, max_request_bytes: int = 64 << 20) -> Any:
    """The FastAPI app, behind :class:`Front`."""
    app = FastAPI(title="mindinfer serve", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)

    def v2_error(exc: BaseException) -> Response:
        status, body = _v2_error(exc)
        return Response(body, status, media_type="application/json")

    @app.get("/v2/health/live")
    async def live() -> Response:
        return Response(status_code=200)

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        await hub.refresh()
        return Response(status_code=200 if hub.ready else 503)

    @app.get("/v2")
    async def server_metadata() -> JSONResponse:
        return JSONResponse({"name": "mindinfer", "version": __version__, "extensions": hub.extensions})

    # Triton's system shared-memory extension (see .shm). Opening memory objects is for clients on
    # this machine only: a remote peer is refused before anything is opened.
    def regions(request: Request) -> SharedMemoryRegions:
        if hub.shm is None:
            raise RequestError(NO_SHM)
        peer = request.client.host if request.client else None
        if not is_loopback(peer):
            raise RequestError(
                f"shared memory is for clients on the server's machine; this request came from {peer or 'unknown'}"
            )
        return hub.shm

    @app.get("/v2/systemsharedmemory/status")
    @app.get("/v2/systemsharedmemory/region/{name}/status")
    async def shm_status(request: Request, name: str = "") -> Response:
        try:
            return JSONResponse(regions(request).status(name))
        except MindInferError as exc:
            return v2_error(exc)

    @app.post("/v2/systemsharedmemory/region/{name}/register")
    async def shm_register(request: Request, name: str) -> Response:
        try:
            shm = regions(request)
            try:
                body = json.loads(await request.body())
            except (ValueError, UnicodeDecodeError) as exc:
                raise RequestError(f"the request body is not valid JSON ({exc})") from None
            if not isinstance(body, dict) or "key" not in body or "byte_size" not in body:
                raise RequestError('register takes a JSON object with "key", "byte_size" and optionally "offset"')
            shm.register(name, body["key"], body.get("offset", 0), body["byte_size"])
        except MindInferError as exc:
            return v2_error(exc)
        return Response(status_code=200)

    @app.post("/v2/systemsharedmemory/unregister")
    @app.post("/v2/systemsharedmemory/region/{name}/unregister")
    async def shm_unregister(request: Request, name: str = "") -> Response:
        try:
            regions(request).unregister(name)
        except MindInferError as exc:
            return v2_error(exc)
        return Response(status_code=200)

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(name: str, version: str = "") -> Response:
        await hub.refresh()
        try:
            ok = hub.lookup(name, version).ready and not hub.draining
        except ModelNotFoundError:
            ok = False
        return Response(status_code=200 if ok else 400)

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def model_metadata(name: str, version: str = "") -> Response:
        await hub.refresh()
        try:
            entry = hub.lookup(name, version)
            entry.check_ready()
        except MindInferError as exc:
            return v2_error(exc)
        return JSONResponse(v2.metadata(entry, hub.versions(name)))

    @app.post("/model/{rest:path}")
    async def ms_predict(rest: str, request: Request) -> JSONResponse:
        try:
            name, version, method = mss.parse_url(rest)
            entry = mss.resolve(hub, name, version, method)
        except MindInferError as exc:
            return JSONResponse({"error_msg": str(exc)})

        async def call() -> JSONResponse:
            body = await request.body()
            try:
                data = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise RequestError(f"Illegal JSON format: {exc}") from None
            results = await mss.predict(entry, mss.decode_json_instances(data))
            return JSONResponse(mss.encode_json_instances(results))

        try:
            return await hub.track(entry, call)
        except Exception as exc:
            if not isinstance(exc, MindInferError):
                log.exception("internal error", exc_info=exc)
            return JSONResponse({"error_msg": str(exc) or type(exc).__name__})

    if hub.metrics is not None:
        registry_metrics = hub.metrics

        @app.get("/metrics")
        async def prometheus() -> Response:
            return Response(registry_metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return Front(app, token, max_request_bytes, hub)
