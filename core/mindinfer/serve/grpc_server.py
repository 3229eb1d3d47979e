"""The gRPC front end: ``inference.GRPCInferenceService`` (KServe v2) and MindSpore Serving's
``mindspore.serving.proto.MSService`` on one ``grpc.aio`` server, so on one port.

The v2 service uses the generated stubs that tritonclient ships (Triton's ``grpc_service.proto`` is
a superset of KServe's ``grpc_predict_v2.proto`` with the same package and service name; the RPCs
it adds answer UNIMPLEMENTED). MSService is compiled from ``_proto/ms_service.proto``.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import unquote

import grpc
import numpy as np
from tritonclient.grpc import service_pb2, service_pb2_grpc

from .. import __version__
from ..errors import InvalidInputError, MindInferError
from . import mss
from ._proto import ms_service_pb2 as ms_pb
from .errors import ModelNotFoundError, ModelNotReadyError, RequestError, too_big
from .hub import Hub
from .model import ModelEntry
from .shm import NO_SHM, SharedMemoryRegions, is_loopback, shm_ref
from .v2 import (
    array_from,
    datatype_of,
    little_endian,
    numpy_of,
    select_outputs,
    shm_input,
    shm_outputs_of,
    shm_parameters,
    write_shm_outputs,
)

__all__ = ["build_grpc_server"]

log = logging.getLogger("mindinfer.serve")

# InferTensorContents field for each datatype, when raw_input_contents is not used.
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


def _code(exc: BaseException) -> grpc.StatusCode:
    if isinstance(exc, InvalidInputError):  # RequestError included
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, ModelNotFoundError):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, ModelNotReadyError):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


class _Auth:
    """The bearer token and the request size limit, checked first by every RPC that needs them."""

    def __init__(self, token: str | None, max_bytes: int) -> None:
        self.token, self.max_bytes = token, max_bytes

    async def check_size(self, request: Any, context: grpc.aio.ServicerContext) -> None:
        # gRPC itself refuses messages past twice the limit (its own words); between the two, ours.
        size = request.ByteSize()
        if size > self.max_bytes:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, too_big(size, self.max_bytes))

    async def check(self, context: grpc.aio.ServicerContext) -> None:
        if not self.token:
            return
        meta = {k.lower(): v for k, v in (context.invocation_metadata() or ())}
        given = str(meta.get("authorization", ""))
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or wrong bearer token (metadata 'authorization: Bearer TOKEN')",
            )


def _params(parameters: Any) -> dict[str, Any]:
    """A protobuf ``map<string, InferParameter>`` as plain values."""
    return {k: getattr(p, p.WhichOneof("parameter_choice") or "string_param") for k, p in parameters.items()}


def _decode_inputs(request: Any, regions: SharedMemoryRegions | None) -> dict[str, np.ndarray]:
    refs = [shm_ref(_params(t.parameters), f"input {t.name!r}") for t in request.inputs]
    raw = list(request.raw_input_contents)
    # raw_input_contents has one entry per input that is not in shared memory (tritonclient's order).
    sent = sum(ref is None for ref in refs)
    if raw and len(raw) != sent:
        raise RequestError(f"{sent} inputs sent in the request but {len(raw)} raw_input_contents")
    contents = iter(raw)
    arrays: dict[str, np.ndarray] = {}
    for t, ref in zip(request.inputs, refs):
        where = f"input {t.name!r}"
        dtype = numpy_of(t.datatype, where)
        shape = tuple(int(d) for d in t.shape)
        if any(d < 0 for d in shape):
            raise RequestError(f"{where}: shape {list(shape)} has a negative dimension")
        if ref is not None:
            data: Any = shm_input(regions, ref, where)
        elif raw:
            data = next(contents)
        else:
            field = _CONTENTS.get(t.datatype)
            if field is None:
                raise RequestError(f"{where}: {t.datatype} data must be sent in raw_input_contents")
            data = list(getattr(t.contents, field))
        if t.name in arrays:
            raise RequestError(f"{where}: given twice")
        arrays[t.name] = array_from(data, shape, dtype, where)
    return arrays


def _peer_host(peer: str) -> str:
    """The host of a gRPC peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``)."""
    kind, _, rest = unquote(peer).partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return ""


class V2Servicer(service_pb2_grpc.GRPCInferenceServiceServicer):
    """The KServe v2 RPCs; health RPCs need no token."""

    def __init__(self, hub: Hub, auth: _Auth) -> None:
        self.hub, self.auth = hub, auth

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        await self.hub.refresh()
        return service_pb2.ServerReadyResponse(ready=self.hub.ready)

    async def ModelReady(self, request: Any, context: Any) -> Any:
        await self.hub.refresh()
        try:
            ok = self.hub.lookup(request.name, request.version).ready and not self.hub.draining
        except ModelNotFoundError:
            ok = False
        return service_pb2.ModelReadyResponse(ready=ok)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        await self.auth.check(context)
        return service_pb2.ServerMetadataResponse(name="mindinfer", version=__version__, extensions=self.hub.extensions)

    # Triton's system shared-memory extension (see .shm); registration only from this machine.
    async def _regions(self, context: Any) -> SharedMemoryRegions:
        await self.auth.check(context)
        if self.hub.shm is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, NO_SHM)
        peer = _peer_host(context.peer() or "")
        if not is_loopback(peer):
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"shared memory is for clients on the server's machine; this request came from {peer or 'unknown'}",
            )
        assert self.hub.shm is not None
        return self.hub.shm

    async def SystemSharedMemoryStatus(self, request: Any, context: Any) -> Any:
        shm = await self._regions(context)
        try:
            found = shm.status(request.name)
        except MindInferError as exc:
            await context.abort(_code(exc), str(exc))
        reply = service_pb2.SystemSharedMemoryStatusResponse()
        for r in found:
            reply.regions[r["name"]].CopyFrom(service_pb2.SystemSharedMemoryStatusResponse.RegionStatus(**r))
        return reply

    async def SystemSharedMemoryRegister(self, request: Any, context: Any) -> Any:
        shm = await self._regions(context)
        try:
            shm.register(request.name, request.key, int(request.offset), int(request.byte_size))
        except MindInferError as exc:
            await context.abort(_code(exc), str(exc))
        return service_pb2.SystemSharedMemoryRegisterResponse()

    async def SystemSharedMemoryUnregister(self, request: Any, context: Any) -> Any:
        (await self._regions(context)).unregister(request.name)
        return service_pb2.SystemSharedMemoryUnregisterResponse()

    async def _entry(self, name: str, version: str, context: Any) -> ModelEntry:
        """The ready model, after the token check; otherwise the call ends with the error's status."""
        await self.auth.check(context)
        try:
            entry = self.hub.lookup(name, version)
            entry.check_ready()
        except MindInferError as exc:
            await context.abort(_code(exc), str(exc))
        return entry

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        entry = await self._entry(request.name, request.version, context)
        t = service_pb2.ModelMetadataResponse.TensorMetadata
        return service_pb2.ModelMetadataResponse(
            name=entry.name,
            versions=self.hub.versions(entry.name),
            platform=entry.platform,
            inputs=[t(name=s.name, datatype=datatype_of(s.dtype), shape=list(s.shape or [-1])) for s in entry.inputs],
            outputs=[t(name=s.name, datatype=datatype_of(s.dtype), shape=list(s.shape or [-1])) for s in entry.outputs],
        )

    async def ModelInfer(self, request: Any, context: Any) -> Any:
        entry = await self._entry(request.model_name, request.model_version, context)
        await self.auth.check_size(request, context)

        async def call() -> Any:
            shm_outputs = shm_outputs_of(((o.name, _params(o.parameters)) for o in request.outputs), self.hub.shm)
            arrays = entry.validate(_decode_inputs(request, self.hub.shm))
            outs = await entry.infer(arrays)
            wanted = [o.name for o in request.outputs] or None
            reply = service_pb2.ModelInferResponse(
                model_name=entry.name, model_version=str(entry.version), id=request.id
            )
            selected = select_outputs(entry, wanted, outs)
            write_shm_outputs(self.hub.shm, shm_outputs, selected)
            for name, arr in selected:
                t = reply.outputs.add(name=name, datatype=datatype_of(arr.dtype), shape=list(arr.shape))
                if name in shm_outputs:
                    for key, value in shm_parameters(shm_outputs[name], arr).items():
                        setattr(t.parameters[key], "string_param" if isinstance(value, str) else "int64_param", value)
                    # An empty entry keeps raw_output_contents lined up with outputs (tritonclient
                    # indexes it by position).
                    reply.raw_output_contents.append(b"")
                else:
                    reply.raw_output_contents.append(little_endian(arr).tobytes())
            return reply

        try:
            return await self.hub.track(entry, call)
        except Exception as exc:
            if not isinstance(exc, MindInferError):
                log.exception("internal error", exc_info=exc)
            await context.abort(_code(exc), str(exc) or type(exc).__name__)


class MSServicer:
    """MindSpore Serving's ``Predict``: errors go in the reply's ``error_msg``, as its client expects."""

    def __init__(self, hub: Hub, auth: _Auth) -> None:
        self.hub, self.auth = hub, auth

    async def Predict(self, request: Any, context: Any) -> Any:
        await self.auth.check(context)
        await self.auth.check_size(request, context)
        spec = request.servable_spec
        reply = ms_pb.PredictReply()
        reply.servable_spec.CopyFrom(spec)
        try:
            entry = mss.resolve(self.hub, spec.name, int(spec.version_number), spec.method_name or mss.DEFAULT_METHOD)
        except MindInferError as exc:
            reply.error_msg.add(error_code=1, error_msg=str(exc).encode())
            return reply
        instances = [mss.instance_from_items(inst.items, n) for n, inst in enumerate(request.instances)]
        if not instances:
            reply.error_msg.add(error_code=1, error_msg=b"the request has no instances")
            return reply
        try:
            results = await self.hub.track(entry, lambda: mss.predict(entry, instances))
        except Exception as exc:
            if not isinstance(exc, MindInferError):
                log.exception("internal error", exc_info=exc)
            reply.error_msg.add(error_code=1, error_msg=(str(exc) or type(exc).__name__).encode())
            return reply
        failed = [r for r in results if isinstance(r, MindInferError)]
        for r in results:
            inst = reply.instances.add()
            if isinstance(r, MindInferError):
                continue
            for name, arr in r.items():
                t = inst.items[name]
                t.shape.dims.extend(arr.shape)
                t.dtype = mss.MS_CODES.get(arr.dtype, 0)
                t.data = little_endian(arr).tobytes()
        if failed:
            for r in results:
                ok = not isinstance(r, MindInferError)
                reply.error_msg.add(error_code=0 if ok else 1, error_msg=b"" if ok else str(r).encode())
        return reply


def build_grpc_server(
    hub: Hub,
    address: str,
    token: str | None = None,
    max_request_bytes: int = 64 << 20,
    tls: tuple[bytes, bytes] | None = None,
) -> tuple[grpc.aio.Server, int]:
    """The server with both services on ``address`` (``host:port``); returns it and the bound port."""
    options = [
        ("grpc.max_receive_message_length", 2 * max_request_bytes),
        ("grpc.max_send_message_length", max(max_request_bytes, 512 << 20)),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.aio.server(options=options)
    auth = _Auth(token, max_request_bytes)
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(V2Servicer(hub, auth), server)
    ms = MSServicer(hub, auth)
    handler = grpc.method_handlers_generic_handler(
        "mindspore.serving.proto.MSService",
        {
            "Predict": grpc.unary_unary_rpc_method_handler(
                ms.Predict,
                request_deserializer=ms_pb.PredictRequest.FromString,
                response_serializer=ms_pb.PredictReply.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    if tls is not None:
        key, cert = tls
        port = server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
    else:
        port = server.add_insecure_port(address)
    return server, port
