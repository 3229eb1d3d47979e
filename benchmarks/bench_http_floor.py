"""The floor under `mindinfer serve`'s latency: tritonclient against an HTTP server that does nothing.

    .venv/bin/python benchmarks/bench_http_floor.py [--model full|small|DIR] [--seconds 5] [--server-cpus 0]

A bare ASGI app on uvicorn (uvloop and httptools, as `mindinfer serve` runs) reads the request body
and answers with a KServe v2 binary reply the size of the model's output, without decoding anything
or running a model. tritonclient sends it one sample at a time at concurrency 1, as
`bench_serve.py` does, once with the model's input tensor and once with a 192-byte one, and the p50
of each is the cost of the client, the loopback socket and uvicorn alone: no server built on them can
answer faster. Compare it with `bench_serve.py`'s concurrency-1 overhead over HTTP.
``--server-cpus 0`` pins the app to those CPUs and the client to the others, as in `bench_serve.py`.
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


def p50_ms(port: int, x: np.ndarray, seconds: float) -> tuple[float, int]:
    """p50 milliseconds of tritonclient's infer of ``x`` against the app at ``port``, and the count."""
    import tritonclient.http as thttp

    client = thttp.InferenceServerClient(f"127.0.0.1:{port}")
    tensor = thttp.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    for _ in range(50):
        client.infer("floor", [tensor])
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        client.infer("floor", [tensor]).as_numpy("y")
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times), len(times)


@contextmanager
def floor_server(cpus: set[int] | None = None) -> Iterator[int]:
    """The bare app on uvicorn in a process of its own (on ``cpus``, if given); yields its port."""
    sys.path.insert(0, str(HERE.parent / "tests" / "serve"))
    from serving import free_port, pinned_to, wait_for_http

    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "bench_http_floor:app", "--port", str(port)]
    cmd += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
    with pinned_to(cpus):
        server = subprocess.Popen(cmd, cwd=HERE)
    try:
        if not wait_for_http(server, f"http://127.0.0.1:{port}/", 30):
            sys.exit("bench_http_floor: the bare uvicorn app did not start")
        yield port
    finally:
        server.terminate()
        server.wait()


#: The tensor of a request whose data travels in shared memory instead: the request's own bytes.
SMALL = (1, 3, 4, 4)


def main() -> int:
    # Here, not at the top: uvicorn imports this module for `app` alone, which needs none of it.
    sys.path.insert(0, str(HERE))
    from bench_serve import cpu_list, model_dir  # the same model folders and CPU lists

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="full", help="full, small, or a folder (bench_serve.py's models)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--server-cpus", type=cpu_list, help="pin the app to these CPUs and the client to the others")
    args = ap.parse_args()

    x = np.load(model_dir(args.model) / "input_0.npy")[:1]
    with floor_server(args.server_cpus) as port:
        if args.server_cpus is not None:
            os.sched_setaffinity(0, os.sched_getaffinity(0) - args.server_cpus)
        print(
            f"bare uvicorn app, {OUTPUT_BYTES}-byte binary reply; tritonclient at concurrency 1, p50 of {args.seconds} s:"
        )
        for shape in (x.shape, SMALL):
            sample = np.ascontiguousarray(np.resize(x, shape))
            ms, n = p50_ms(port, sample, args.seconds)
            print(f"  input {list(shape)} ({sample.nbytes} bytes): {ms:.3f} ms ({n} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
