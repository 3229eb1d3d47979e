"""`mindinfer serve` against in-process `Session.run`: throughput and latency with and without batching.

    .venv/bin/python benchmarks/bench_serve.py [--targets cpu@cpu cpu@onnx] [--concurrency 1 8 32]
        [--seconds 8] [--max-batch-size 8] [--protocol http|grpc] [--model DIR_OR_FILE]

The model is mobilenet_v2 (mindcv mobilenet_v2_035_96, 10 classes) exported by MindSpore with a
dynamic batch (tests/data/serve/mobilenet_v2_035_96_dyn, made by tools/make_serve_cases.py). For
each target the server runs as its own process on loopback ports, once with dynamic batching
(--max-batch-size N) and once without (--max-batch-size 0); tritonclient threads send one sample
per request (binary tensors) at each concurrency for a fixed time, and every reply is checked against
MindSpore's output. The reference is measured in the same run: `Session.run` in this process at
batch 1 and at batch N. Reported ratios, against the issue's goals:

* throughput at concurrency 32 with batching / `Session.run` samples per second at batch N (goal >= 0.8);
* p50 latency at concurrency 1 without batching - `Session.run` p50 at batch 1 (goal <= 1 ms).

The `Session.run` reference is measured again next to each concurrency level, as the load of a
shared machine drifts over a run.

The clients share the machine with the server (2 cores here): their CPU time is part of what the
server's numbers lose against the in-process ceiling.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "serve"))

import mindinfer as mi
from serving import Server, close_to_mindspore

DEFAULT_MODEL = ROOT / "tests" / "data" / "serve" / "mobilenet_v2_035_96_dyn"


def session_rate(model: Path, target: str, batch: int, x: np.ndarray, seconds: float) -> tuple[float, float]:
    """(samples per second, p50 seconds per run) of Session.run at ``batch`` in this process."""
    with mi.Session(model, target=target) as sess:
        feed = [np.ascontiguousarray(np.resize(x, (batch, *x.shape[1:])))]
        for _ in range(3):
            sess.run(feed)
        times = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            sess.run(feed)
            times.append(time.perf_counter() - t)
    return batch * len(times) / sum(times), statistics.median(times)


def drive(
    server: Server, protocol: str, concurrency: int, seconds: float, x: np.ndarray, y: np.ndarray
) -> dict[str, Any]:
    """``concurrency`` client threads, each sending one sample per request for ``seconds``."""
    import tritonclient.grpc as tgrpc
    import tritonclient.http as thttp

    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    wrong: list[str] = []
    start_gate = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def client(k: int) -> None:
        mod: Any = tgrpc if protocol == "grpc" else thttp
        c = mod.InferenceServerClient(server.grpc if protocol == "grpc" else server.http)
        s = k % len(x)
        inp = mod.InferInput("x", [1, *x.shape[1:]], "FP32")
        inp.set_data_from_numpy(x[s : s + 1])
        out = c.infer("mobilenet_v2", [inp]).as_numpy("output")  # warm-up, checked
        if not close_to_mindspore(out, y[s : s + 1]):
            wrong.append(f"client {k}")
        start_gate.wait()
        while time.perf_counter() < stop_at[0]:
            t = time.perf_counter()
            c.infer("mobilenet_v2", [inp])
            latencies[k].append(time.perf_counter() - t)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + 1e9
    start_gate.wait()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    flat = sorted(v for per in latencies for v in per)
    return {
        "concurrency": concurrency,
        "requests": len(flat),
        "throughput": len(flat) / elapsed,
        "p50_ms": 1e3 * flat[len(flat) // 2],
        "p99_ms": 1e3 * flat[min(len(flat) - 1, int(len(flat) * 0.99))],
        "wrong": wrong,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Both CPU plugins, pinned: a bare "cpu" is whichever has the higher priority (see README).
    ap.add_argument("--targets", nargs="+", default=["cpu@cpu", "cpu@onnx"])
    ap.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32])
    ap.add_argument("--seconds", type=float, default=8.0, help="per concurrency level")
    ap.add_argument("--max-batch-size", type=int, default=8)
    ap.add_argument("--batch-wait-ms", type=float, default=0.0)
    ap.add_argument("--workers", type=int, default=1, help="the server's --workers (batches run at once)")
    ap.add_argument("--protocol", choices=["http", "grpc"], default="http")
    ap.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL, help="a folder with model.mindir, input_0/output_0.npy"
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    x, y = np.load(args.model / "input_0.npy"), np.load(args.model / "output_0.npy")
    model_file = args.model / "model.mindir"
    results: list[dict[str, Any]] = []
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "mobilenet_v2" / "1"
        repo.mkdir(parents=True)
        (repo / "model.mindir").write_bytes(model_file.read_bytes())
        for target in args.targets:
            print(f"\n{target}:", flush=True)
            for batching in (False, True):
                mbs = args.max_batch_size if batching else 0
                flags = ["--target", target, "--max-batch-size", str(mbs), "--batch-wait-ms", str(args.batch_wait_ms)]
                flags += ["--workers", str(args.workers)]
                with Server(Path(tmp), *flags) as server:
                    for c in args.concurrency:
                        # The ceiling is measured next to each level (this machine's load drifts).
                        rate1, p50_1 = session_rate(model_file, target, 1, x, args.seconds / 2)
                        rate_n, _ = session_rate(model_file, target, args.max_batch_size, x, args.seconds / 2)
                        r = drive(server, args.protocol, c, args.seconds, x, y)
                        ceiling = rate_n if batching else rate1
                        r.update(
                            target=target,
                            batching=batching,
                            ceiling=ceiling,
                            ratio=r["throughput"] / ceiling,
                            session_p50_ms=1e3 * p50_1,
                            overhead_ms=r["p50_ms"] - 1e3 * p50_1,
                        )
                        results.append(r)
                        print(
                            f"  batching {'on ' if batching else 'off'} c={c:<3} {r['throughput']:8.1f} req/s  "
                            f"p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
                            f"{r['ratio']:.2f} x Session.run {ceiling:.1f}/s at batch {args.max_batch_size if batching else 1}"
                            f" (its p50 at batch 1: {1e3 * p50_1:.2f} ms)"
                            + (f"  WRONG OUTPUTS: {r['wrong']}" if r["wrong"] else ""),
                            flush=True,
                        )
    print("\n| target | batching | concurrency | req/s | p50 ms | p99 ms | Session.run/s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['target']} | {'on' if r['batching'] else 'off'} | {r['concurrency']} | {r['throughput']:.1f} | "
            f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['ceiling']:.1f} | {r['ratio']:.2f} |"
        )
    print("\ngoals:")
    for target in args.targets:
        top = [
            r for r in results if r["target"] == target and r["batching"] and r["concurrency"] == max(args.concurrency)
        ]
        one = [r for r in results if r["target"] == target and not r["batching"] and r["concurrency"] == 1]
        if top:
            print(
                f"  {target}: concurrency {top[0]['concurrency']} with batching = {top[0]['ratio']:.2f} of Session.run "
                f"at batch {args.max_batch_size} (goal >= 0.80: {'met' if top[0]['ratio'] >= 0.8 else 'NOT met'})"
            )
        if one:
            print(
                f"  {target}: concurrency 1 overhead = {one[0]['overhead_ms']:.2f} ms per request on top of "
                f"Session.run (goal <= 1 ms: {'met' if one[0]['overhead_ms'] <= 1.0 else 'NOT met'})"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if any(r["wrong"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
