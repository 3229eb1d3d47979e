"""Where one request's time goes inside a live `mindinfer serve`, stage by stage.

    .venv/bin/python benchmarks/bench_serve_timeline.py [--model full|small|DIR] [--target cpu@onnx]
        [--seconds 6] [--server-cpus 0]

The client's heap is padded, as in `bench_http_floor.py` (see _malloc.py). The server runs as
`mindinfer serve` does, in a process of its own (unbatched, one thread a run with
``--server-cpus``), with its stages wrapped to take a timestamp at each boundary. tritonclient sends
it one sample at a time over HTTP, as `bench_serve.py` does at concurrency 1. At exit the server
prints the median of each stage over the requests after the first 100:

    body read | decode | validate | to the model | hand-off to the run's thread | Session.run |
    back on the event loop | to encode | encode | send

"body read" starts when uvicorn hands the parsed request head to the app, so the time before it
(the client building and sending the request, the socket, uvicorn's parsing) is outside the table:
the client's p50 minus the table's total is that part. Each wrapper adds a Python call and a clock read.
`bench_serve_parts.py` times the same stages in-process, each in a loop of its own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
STAGES = [
    ("body read", "app", "decode0"),
    ("decode", "decode0", "decode1"),
    ("validate", "decode1", "valid"),
    ("to the model", "valid", "infer0"),
    ("hand-off to the run's thread", "infer0", "run0"),
    ("Session.run", "run0", "run1"),
    ("back on the event loop", "run1", "infer1"),
    ("to encode", "infer1", "encode0"),
    ("encode", "encode0", "encode1"),
    ("send", "encode1", "sent"),
]


def _timed_server(argv: list[str]) -> int:
    """`mindinfer serve ARGV` with its stages wrapped; prints the medians at exit (in the server)."""
    import atexit
    import functools
    import inspect

    from mindinfer import session
    from mindinfer.cli import main
    from mindinfer.serve import model, rest, v2

    now = time.perf_counter
    current: dict[str, float] = {}
    done: list[dict[str, float]] = []

    def mark(owner: Any, attr: str, before: str, after: str) -> None:
        inner = getattr(owner, attr)
        if inspect.iscoroutinefunction(inner):

            @functools.wraps(inner)
            async def timed_async(*a: Any, **k: Any) -> Any:
                if before == "app":
                    current.clear()
                current[before] = now()
                out = await inner(*a, **k)
                current[after] = now()
                if after == "sent":
                    done.append(dict(current))
                return out

            setattr(owner, attr, timed_async)
            return

        @functools.wraps(inner)
        def timed(*a: Any, **k: Any) -> Any:
            if before:
                current[before] = now()
            out = inner(*a, **k)
            current[after] = now()
            return out

        setattr(owner, attr, timed)

    mark(rest.Front, "_infer", "app", "sent")
    mark(v2, "decode_rest", "decode0", "decode1")
    mark(model.ModelEntry, "validate", "", "valid")
    mark(model.ServedModel, "infer", "infer0", "infer1")
    mark(session.Session, "run", "run0", "run1")
    mark(v2, "encode_rest", "encode0", "encode1")

    def report() -> None:
        rows = [r for r in done[100:] if len(r) == len(STAGES) + 1]
        if not rows:
            print("TIMELINE none", flush=True)
            return
        parts = [f"{name} {1e6 * statistics.median(r[b] - r[a] for r in rows):.0f}" for name, a, b in STAGES]
        beyond = 1e6 * statistics.median((r["sent"] - r["app"]) - (r["run1"] - r["run0"]) for r in rows)
        print(f"TIMELINE {len(rows)} requests, microseconds: " + " | ".join(parts) + f" | all but the run {beyond:.0f}")

    atexit.register(report)
    sys.argv = ["mindinfer", "serve", *argv]
    return int(main() or 0)


def main() -> int:
    if sys.argv[1:2] == ["--server"]:
        return _timed_server(sys.argv[2:])
    sys.path.insert(0, str(HERE.parent / "tests" / "serve"))
    from _malloc import faults, pad_heap
    from bench_serve import cpu_list, model_dir
    from serving import free_port, pinned_to, wait_for_http

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="full", help="full, small, or a folder (bench_serve.py's models)")
    ap.add_argument("--target", default="cpu@onnx")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--server-cpus", type=cpu_list, help="pin the server to these CPUs and the client to the others")
    args = ap.parse_args()
    pad_heap()  # a process this small faults its request buffers in again each time (see _malloc.py)

    import tritonclient.http as thttp

    folder = model_dir(args.model)
    x = np.load(folder / "input_0.npy")[:1]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "m" / "1").mkdir(parents=True)
        shutil.copy(folder / "model.mindir", Path(tmp) / "m" / "1" / "model.mindir")
        port = free_port()
        cmd = [sys.executable, __file__, "--server", tmp, "--target", args.target, "--max-batch-size", "0"]
        cmd += ["--http-port", str(port), "--grpc-port", "0"]
        if args.server_cpus is not None:
            cmd += ["--option", f"threads={len(args.server_cpus)}"]
        with pinned_to(args.server_cpus):
            server = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        try:
            if not wait_for_http(server, f"http://127.0.0.1:{port}/v2/health/live", 60):
                sys.exit("bench_serve_timeline: the server did not start")
            if args.server_cpus is not None:
                os.sched_setaffinity(0, os.sched_getaffinity(0) - args.server_cpus)
            client = thttp.InferenceServerClient(f"127.0.0.1:{port}")
            name = client.get_model_metadata("m")["inputs"][0]["name"]
            tensor = thttp.InferInput(name, list(x.shape), "FP32")
            tensor.set_data_from_numpy(x)
            times = []
            before = faults()
            end = time.perf_counter() + args.seconds
            while time.perf_counter() < end:
                t = time.perf_counter()
                client.infer("m", [tensor])
                times.append(time.perf_counter() - t)
            per = (faults() - before) / len(times)
        finally:
            server.terminate()
            out, _ = server.communicate(timeout=60)
    print(f"{folder.name} on {args.target}, tritonclient over HTTP at concurrency 1:")
    print(
        f"  client p50 {1e3 * statistics.median(times[100:]):.3f} ms over {len(times) - 100} requests ({per:.1f} page faults each)"
    )
    for line in out.splitlines():
        if line.startswith("TIMELINE"):
            print("  in the server: " + line.removeprefix("TIMELINE "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
