"""The floor under `mindinfer serve`'s latency: tritonclient against a server that does nothing.

    .venv/bin/python benchmarks/bench_http_floor.py [--model full|small|DIR] [--seconds 5] [--server-cpus 0]
        [--protocol http [grpc]] [--heap padded|system] [--compare-app-heap R]

A bare ASGI app on uvicorn (uvloop and httptools, as `mindinfer serve` runs) reads the request body
and answers with a KServe v2 binary reply the size of the model's output, without decoding anything
or running a model; with ``--protocol grpc``, a bare KServe v2 ModelInfer on grpc.aio does the same.
tritonclient sends it one sample at a time at concurrency 1, as `bench_serve.py` does, once with the
model's input tensor and once with a 192-byte one, and the p50 of each is the cost of the client,
the loopback socket and the server framework alone: no server built on them can answer faster.
Compare it with `bench_serve.py`'s concurrency-1 overhead. ``--server-cpus 0`` pins the app to
those CPUs and the client to the others, as in `bench_serve.py`. The app and the client run with a
padded heap unless ``--heap system`` (see _malloc.py); the client's page faults per request are
printed beside each p50. ``--compare-app-heap R`` measures the bare HTTP app with and without the
padded heap instead, in turn R times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
OUTPUT_BYTES = int(os.environ.get("FLOOR_OUTPUT_BYTES", "4000"))


async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    """Reads the whole body and answers with a v2 binary reply of OUTPUT_BYTES zero bytes."""
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    b"".join(chunks)
    header = json.dumps(
        {
            "model_name": "floor",
            "outputs": [
                {
                    "name": "y",
                    "datatype": "UINT8",
                    "shape": [OUTPUT_BYTES],
                    "parameters": {"binary_data_size": OUTPUT_BYTES},
                }
            ],
        }
    ).encode()
    body = header + bytes(OUTPUT_BYTES)
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"inference-header-content-length", str(len(header)).encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def grpc_app(port: int) -> None:
    """The gRPC counterpart of ``app``: KServe v2 ModelInfer on grpc.aio (with uvloop, as the server
    runs it) that answers with OUTPUT_BYTES of raw output without decoding anything."""
    import grpc
    import uvloop
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    class Floor(service_pb2_grpc.GRPCInferenceServiceServicer):
        async def ServerLive(self, request: Any, context: Any) -> Any:
            return service_pb2.ServerLiveResponse(live=True)

        async def ModelInfer(self, request: Any, context: Any) -> Any:
            reply = service_pb2.ModelInferResponse(model_name="floor")
            reply.outputs.add(name="y", datatype="UINT8", shape=[OUTPUT_BYTES])
            reply.raw_output_contents.append(bytes(OUTPUT_BYTES))
            return reply

    async def serve() -> None:
        # The server's own message limits (grpc_server.py), so a 600 KB request is taken the same way.
        server = grpc.aio.server(
            options=[("grpc.max_receive_message_length", 128 << 20), ("grpc.max_send_message_length", 512 << 20)]
        )
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(Floor(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    uvloop.run(serve())


def _client(protocol: str, port: int) -> Any:
    import tritonclient.grpc as tgrpc
    import tritonclient.http as thttp

    mod: Any = tgrpc if protocol == "grpc" else thttp
    return mod, mod.InferenceServerClient(f"127.0.0.1:{port}")


def p50_ms(port: int, x: np.ndarray, seconds: float, protocol: str = "http") -> tuple[float, int, float]:
    """p50 milliseconds of tritonclient's infer of ``x`` against the app at ``port`` (``protocol``
    http or grpc), the count, and this process's page faults per request."""
    from _malloc import faults

    thttp, client = _client(protocol, port)
    tensor = thttp.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    for _ in range(50):
        client.infer("floor", [tensor])
    times = []
    before = faults()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        client.infer("floor", [tensor]).as_numpy("y")
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times), len(times), (faults() - before) / len(times)


@contextmanager
def floor_server(cpus: set[int] | None = None, padded: bool = True, protocol: str = "http") -> Iterator[int]:
    """The bare app on uvicorn (``protocol`` http) or grpc.aio (grpc) in a process of its own (on
    ``cpus``, if given); yields its port.

    ``padded``: with a heap top pad (see _malloc.py). Without one, the bare app takes page faults on
    every large request that `mindinfer serve` does not take, and would stand for a slower floor.
    """
    sys.path.insert(0, str(HERE.parent / "tests" / "serve"))
    from _malloc import PAD_ENV
    from serving import free_port, pinned_to, wait_for_http

    port = free_port()
    if protocol == "grpc":
        cmd = [sys.executable, __file__, "--grpc-app", str(port)]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "bench_http_floor:app", "--port", str(port)]
        cmd += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
    with pinned_to(cpus):
        server = subprocess.Popen(cmd, cwd=HERE, env={**os.environ, **(PAD_ENV if padded else {})})
    try:
        if protocol == "grpc":
            started = _wait_for_grpc(server, port, 30)
        else:
            started = wait_for_http(server, f"http://127.0.0.1:{port}/", 30)
        if not started:
            sys.exit(f"bench_http_floor: the bare {protocol} app did not start")
        yield port
    finally:
        server.terminate()
        server.wait()


def _wait_for_grpc(proc: subprocess.Popen[Any], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    _, client = _client("grpc", port)
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return bool(client.is_server_live())
        except Exception:  # noqa: BLE001 -- not listening yet
            time.sleep(0.1)
    return False


#: The tensor of a request whose data travels in shared memory instead: the request's own bytes.
SMALL = (1, 3, 4, 4)


def _compare_app_heap(x: np.ndarray, repeats: int, seconds: float, cpus: set[int] | None, client_padded: bool) -> int:
    """The bare HTTP app with a padded heap and with glibc's default, side by side in one run."""
    own = os.sched_getaffinity(0)
    with floor_server(cpus, True) as with_pad, floor_server(cpus, False) as without:
        if cpus is not None:
            os.sched_setaffinity(0, own - cpus)
        times: dict[str, list[float]] = {"padded": [], "glibc's default": []}
        for _ in range(repeats):
            for name, port in (("padded", with_pad), ("glibc's default", without)):
                times[name].append(round(p50_ms(port, x, seconds)[0], 3))
    client = "padded" if client_padded else "glibc's default"
    print(f"bare uvicorn app, input {list(x.shape)}, p50 ms in turn, {repeats} times (the client's heap: {client}):")
    for name, values in times.items():
        print(f"  app heap {name}: {values}")
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--grpc-app"]:  # the bare gRPC app's own process (see floor_server)
        grpc_app(int(sys.argv[2]))
        return 0
    # Here, not at the top: uvicorn imports this module for `app` alone, which needs none of it.
    sys.path.insert(0, str(HERE))
    from _malloc import HEAP_HELP, pad_heap
    from bench_serve import cpu_list, model_dir  # the same model folders and CPU lists

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="full", help="full, small, or a folder (bench_serve.py's models)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--server-cpus", type=cpu_list, help="pin the app to these CPUs and the client to the others")
    ap.add_argument("--heap", choices=["padded", "system"], default="padded", help=HEAP_HELP)
    ap.add_argument("--protocol", nargs="+", choices=["http", "grpc"], default=["http"])
    ap.add_argument(
        "--compare-app-heap",
        type=int,
        metavar="R",
        help="instead: the bare HTTP app with and without a padded heap, alternated R times (this client as --heap)",
    )
    args = ap.parse_args()
    padded = args.heap == "padded" and pad_heap()
    own = os.sched_getaffinity(0)

    x = np.load(model_dir(args.model) / "input_0.npy")[:1]
    heap = "heaps padded" if padded else "glibc's default heaps"
    if args.compare_app_heap:
        return _compare_app_heap(x, args.compare_app_heap, args.seconds, args.server_cpus, padded)
    for protocol in args.protocol:
        with floor_server(args.server_cpus, padded, protocol) as port:
            if args.server_cpus is not None:
                os.sched_setaffinity(0, own - args.server_cpus)
            server = "uvicorn app" if protocol == "http" else "grpc.aio app"
            print(
                f"bare {server}, {OUTPUT_BYTES}-byte binary reply; tritonclient at concurrency 1, "
                f"p50 of {args.seconds} s ({heap}):"
            )
            for shape in (x.shape, SMALL):
                sample = np.ascontiguousarray(np.resize(x, shape))
                ms, n, per = p50_ms(port, sample, args.seconds, protocol)
                print(
                    f"  input {list(shape)} ({sample.nbytes} bytes): {ms:.3f} ms "
                    f"({n} requests; client page faults {per:.1f} each)"
                )
            os.sched_setaffinity(0, own)
    return 0


if __name__ == "__main__":
    sys.exit(main())
