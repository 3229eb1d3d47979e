"""`mindinfer serve` against in-process `Session.run`: throughput and latency with and without batching.

    .venv/bin/python benchmarks/bench_serve.py [--model full|small|DIR] [--targets cpu@cpu cpu@onnx]
        [--concurrency 1 8 32] [--seconds 8] [--repeat 1] [--max-batch-size 8] [--workers 1 [2 ...]]
        [--protocol http [grpc http-shm grpc-shm]] [--server-cpus 0[,1...]] [--json FILE]

Several --workers or --protocol values are measured in the same run, one after the other.

Models (each a folder with model.mindir, input_0.npy and MindSpore's output_0.npy):

* ``full`` (default): mindcv mobilenet_v2_100 at 224x224, 1000 classes, exported by MindSpore with a
  dynamic batch into ~/.cache/mindinfer/serve by ``/work/msvenv/bin/python tools/make_serve_cases.py
  --full`` (14 MB, not committed). This is the mobilenet_v2 of the README's speed figures.
* ``small``: mobilenet_v2_035_96 (10 classes, 96x96; the serving tests' model in tests/data/serve).
  Its run costs about a tenth of a millisecond a sample, so it measures the per-request floor of the
  server and the client rather than serving a model.

For each target the server runs as its own process on loopback ports, once with dynamic batching
(--max-batch-size N) and once without (0); tritonclient threads send one sample per request (binary
tensors, or with --protocol http-shm / grpc-shm in shared memory) at each concurrency for a fixed
time. Each client's first reply and every 8th after it are checked against MindSpore's output.
The reference is measured in the same run, next to each level (the load of a shared machine drifts):
`Session.run` in this process at batch 1 and at batch N. Ratios, against the issue's goals:

* throughput at concurrency 32 with batching / `Session.run` samples per second at batch N (goal >= 0.8);
* p50 latency at concurrency 1 without batching - `Session.run` p50 at batch 1 (goal <= 1 ms).

``--repeat R`` measures every level R times, alternating with the reference, and reports medians.

The floor (HTTP, concurrency 1 without batching): each repeat also sends the same request (with
http-shm, a 192-byte one) to a bare uvicorn app that answers without decoding or running anything
(bench_http_floor.py). Its p50 is what the client, the loopback socket and uvicorn cost by
themselves, part of the overhead that no server built on them avoids.

Where the CPU goes (Linux): the server process's CPU time per request (from /proc), the clients' per
request (this process), and `Session.run`'s per sample in-process. By default the clients share the
machine with the server: what they spend is CPU the in-process reference does not have to share.

Page faults per request, of the server and of the clients, are reported too (in the README's runs
neither took any). The bare app of the floor runs with a padded heap, since a process that small
does take them (see _malloc.py).

``--server-cpus 0`` (Linux) keeps the load generator off the server's cores, as Triton's
perf_analyzer is meant to run: the server is pinned to those CPUs with ``--option threads=<their
count>``, the clients to the other CPUs, and the reference `Session.run` runs in a process of its own
pinned to the server's CPUs with the same threads, so the ratio compares like with like.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "serve"))

import mindinfer as mi
from bench_http_floor import SMALL, floor_server, p50_ms
from serving import Server, close_to_mindspore, pinned_to

BENCH_DIR = Path(os.environ.get("MINDINFER_SERVE_BENCH_DIR", "~/.cache/mindinfer/serve")).expanduser()
MODELS = {
    "full": BENCH_DIR / "mobilenet_v2_100_dyn",
    "small": ROOT / "tests" / "data" / "serve" / "mobilenet_v2_035_96_dyn",
}


def model_dir(name: str) -> Path:
    folder = MODELS.get(name, Path(name))
    if not (folder / "model.mindir").is_file():
        how = (
            "make it with: /work/msvenv/bin/python tools/make_serve_cases.py --full (MindSpore in its own venv)"
            if name == "full"
            else "give a folder with model.mindir, input_0.npy and output_0.npy, or --model full|small"
        )
        sys.exit(f"bench_serve: no model at {folder}; {how}")
    return folder


def _proc_stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads), or None off Linux."""
    fields = _proc_stat(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def page_faults(pid: int) -> int | None:
    """Minor page faults of process ``pid`` so far, or None off Linux."""
    fields = _proc_stat(pid)
    return None if fields is None else int(fields[7])


_SUMS = re.compile(r"^mindinfer_(request|compute)_duration_seconds_(sum|count)\{[^}]*\} (\S+)$", re.MULTILINE)


def server_times(server: Server) -> dict[str, float]:
    """Sums and counts of the server's own request and run durations (its /metrics)."""
    with urllib.request.urlopen(f"http://{server.http}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for kind, what, value in _SUMS.findall(text):
        out[f"{kind}_{what}"] = out.get(f"{kind}_{what}", 0.0) + float(value)
    return out


def _mean_ms(before: dict[str, float], after: dict[str, float], kind: str) -> float | None:
    n = after.get(f"{kind}_count", 0.0) - before.get(f"{kind}_count", 0.0)
    return 1e3 * (after.get(f"{kind}_sum", 0.0) - before.get(f"{kind}_sum", 0.0)) / n if n else None


def session_rate(
    model: Path, target: str, batch: int, x: np.ndarray, seconds: float, options: dict[str, Any] | None = None
) -> dict[str, float]:
    """Samples per second, p50 seconds per run and CPU seconds per sample of Session.run at ``batch``."""
    with mi.Session(model, target=target, options=options) as sess:
        feed = [np.ascontiguousarray(np.resize(x, (batch, *x.shape[1:])))]
        for _ in range(3):
            sess.run(feed)
        times = []
        cpu = time.process_time()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            sess.run(feed)
            times.append(time.perf_counter() - t)
        cpu = time.process_time() - cpu
    return {"rate": batch * len(times) / sum(times), "p50": statistics.median(times), "cpu": cpu / (batch * len(times))}


def reference(
    model: Path, target: str, batch: int, x: np.ndarray, seconds: float, cpus: set[int] | None
) -> dict[str, float]:
    """`session_rate` here, or with ``cpus`` in a process of its own pinned to them (BLAS and
    onnxruntime start their threads with the affinity of the process that loads them)."""
    if cpus is None:
        return session_rate(model, target, batch, x, seconds)
    job = {"model": str(model), "target": target, "batch": batch, "seconds": seconds, "threads": len(cpus)}
    with pinned_to(cpus):
        done = subprocess.run(
            [sys.executable, __file__, "--reference", json.dumps(job)], capture_output=True, text=True, check=False
        )
    if done.returncode:
        sys.exit(f"bench_serve: the pinned reference run failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def _reference_main(job: dict[str, Any]) -> int:
    model = Path(job["model"])
    x = np.load(model.parent / "input_0.npy")
    r = session_rate(model, job["target"], job["batch"], x, job["seconds"], {"threads": job["threads"]})
    print(json.dumps(r))
    return 0


CHECK_EVERY = 8  # besides each client's first reply, every 8th is checked against MindSpore's output


def drive(
    server: Server, protocol: str, concurrency: int, seconds: float, x: np.ndarray, y: np.ndarray, output: str
) -> dict[str, Any]:
    """``concurrency`` client threads, each sending one sample per request for ``seconds``.

    ``protocol`` is ``http``, ``grpc``, or either with ``-shm``: then each client puts its sample in a
    POSIX shared-memory region of its own and asks for the output in another (Triton's system
    shared-memory extension), as a client on the same machine can.
    """
    import tritonclient.grpc as tgrpc
    import tritonclient.http as thttp
    import tritonclient.utils.shared_memory as tshm

    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    wrong: list[str] = []
    start_gate = threading.Barrier(concurrency + 1)
    stop_at = [0.0]
    transport, _, memory = protocol.partition("-")
    tag = f"bench{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def client(k: int) -> None:
        mod: Any = tgrpc if transport == "grpc" else thttp
        c = mod.InferenceServerClient(server.grpc if transport == "grpc" else server.http)
        s = k % len(x)
        sample, expected = x[s : s + 1], y[s : s + 1]
        inp = mod.InferInput("x", list(sample.shape), "FP32")
        outs = None
        handles = []
        if memory == "shm":
            for kind, nbytes in (("in", sample.nbytes), ("out", expected.nbytes)):
                name = f"{tag}-{k}-{kind}"
                handles.append(tshm.create_shared_memory_region(name, "/" + name, nbytes))
                c.register_system_shared_memory(name, "/" + name, nbytes)
            tshm.set_shared_memory_region(handles[0], [np.ascontiguousarray(sample)])
            inp.set_shared_memory(f"{tag}-{k}-in", sample.nbytes)
            req = mod.InferRequestedOutput(output)
            req.set_shared_memory(f"{tag}-{k}-out", expected.nbytes)
            outs = [req]
        else:
            inp.set_data_from_numpy(sample)

        def infer_checked(check: bool) -> None:
            result = c.infer("mobilenet_v2", [inp], outputs=outs)
            if not check:
                return
            if handles:
                got = tshm.get_contents_as_numpy(handles[1], np.float32, list(expected.shape))
            else:
                got = result.as_numpy(output)
            if not close_to_mindspore(got, expected):
                wrong.append(f"client {k}")

        try:
            infer_checked(True)  # warm-up
            start_gate.wait()
            n = 0
            while time.perf_counter() < stop_at[0]:
                t = time.perf_counter()
                infer_checked(n % CHECK_EVERY == 0)
                latencies[k].append(time.perf_counter() - t)
                n += 1
        finally:
            for kind, h in zip(("in", "out"), handles):
                c.unregister_system_shared_memory(f"{tag}-{k}-{kind}")
                tshm.destroy_shared_memory_region(h)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + 1e9
    start_gate.wait()
    times = server_times(server)
    server_cpu, client_cpu = process_cpu(server.proc.pid), time.process_time()
    server_faults, client_faults = page_faults(server.proc.pid), page_faults(os.getpid())
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    client_cpu = time.process_time() - client_cpu
    after = process_cpu(server.proc.pid)
    faults_after = page_faults(server.proc.pid), page_faults(os.getpid())
    times_after = server_times(server)
    flat = sorted(v for per in latencies for v in per)
    n = len(flat)

    def per_request(before: int | None, now: int | None) -> float | None:
        return None if before is None or now is None else (now - before) / n

    return {
        "concurrency": concurrency,
        "requests": n,
        "throughput": n / elapsed,
        "p50_ms": 1e3 * flat[n // 2],
        "p99_ms": 1e3 * flat[min(n - 1, int(n * 0.99))],
        "server_cpu_ms": None if server_cpu is None or after is None else 1e3 * (after - server_cpu) / n,
        "client_cpu_ms": 1e3 * client_cpu / n,
        "server_faults": per_request(server_faults, faults_after[0]),
        "client_faults": per_request(client_faults, faults_after[1]),
        # Inside the server: from decoding a request to its encoded reply (batch queueing included),
        # and one backend run; the rest of p50 is the client, the transport and the HTTP/gRPC layers.
        "handled_ms": _mean_ms(times, times_after, "request"),
        "run_ms": _mean_ms(times, times_after, "compute"),
        "wrong": wrong,
    }


def measure(
    server: Server,
    args: argparse.Namespace,
    point: dict[str, Any],
    model: Path,
    output: str,
    x: Any,
    y: Any,
    floor_port: int | None,
) -> dict[str, Any]:
    """One level (``point``: target, protocol, workers, batching, concurrency), ``--repeat`` times.

    At concurrency 1 without batching over HTTP, each repeat also measures the floor: the same
    request (with -shm, a 192-byte one) against a bare uvicorn app (bench_http_floor.py)."""
    target, batching, c = point["target"], point["batching"], point["concurrency"]
    runs = []
    cpus = args.server_cpus
    for _ in range(args.repeat):
        one = reference(model, target, 1, x, args.seconds / 2, cpus)
        # With batching the reference is Session.run at the batch size; p50 at batch 1 is the latency one.
        ref = reference(model, target, args.max_batch_size, x, args.seconds / 2, cpus) if batching else one
        r = drive(server, point["protocol"], c, args.seconds, x, y, output)
        r.update(
            ceiling=ref["rate"],
            ratio=r["throughput"] / ref["rate"],
            session_p50_ms=1e3 * one["p50"],
            overhead_ms=r["p50_ms"] - 1e3 * one["p50"],
            session_cpu_ms=1e3 * ref["cpu"],
            floor_ms=None,
        )
        if floor_port is not None and c == 1 and not batching and point["protocol"].startswith("http"):
            sample = x[:1] if point["protocol"] == "http" else np.ascontiguousarray(np.resize(x, SMALL))
            r["floor_ms"] = p50_ms(floor_port, sample, args.seconds / 2)[0]
        runs.append(r)
    # Medians over the repeats; wrong replies of any run are listed.
    out: dict[str, Any] = {**point, "repeats": len(runs)}
    for key in runs[0]:
        if key in ("concurrency", "wrong"):
            continue
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = statistics.median(values) if values else None
    out["wrong"] = [w for r in runs for w in r["wrong"]]
    out["ratios"] = [round(r["ratio"], 3) for r in runs]
    out["overheads"] = [round(r["overhead_ms"], 2) for r in runs]
    return out


def fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def describe(r: dict[str, Any], batch: int) -> str:
    return (
        f"batching {'on ' if r['batching'] else 'off'} c={r['concurrency']:<3} {r['throughput']:8.1f} req/s  "
        f"p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
        f"{r['ratio']:.2f} x Session.run {r['ceiling']:.1f}/s at batch {batch or 1} "
        f"(its p50 at batch 1: {r['session_p50_ms']:.2f} ms); CPU ms: server {fmt(r['server_cpu_ms'])}/req, "
        f"clients {fmt(r['client_cpu_ms'])}/req, Session.run {fmt(r['session_cpu_ms'])}/sample; in the server "
        f"(mean ms): request {fmt(r['handled_ms'])}, run {fmt(r['run_ms'])}; page faults/req: server "
        f"{fmt(r['server_faults'], '.1f')}, clients {fmt(r['client_faults'], '.1f')}"
        + ("" if r["floor_ms"] is None else f"; bare uvicorn app p50 {r['floor_ms']:.2f} ms")
        + (f"  WRONG OUTPUTS: {r['wrong']}" if r["wrong"] else "")
    )


def cpu_list(text: str) -> set[int]:
    try:
        cpus = {int(c) for c in text.split(",")}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write CPU numbers separated by commas, e.g. 0 or 0,1") from None
    usable = os.sched_getaffinity(0)
    if not cpus < usable:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the server's CPUs must be some of this process's {sorted(usable)}, leaving one for the clients"
        )
    return cpus


def main() -> int:
    if sys.argv[1:2] == ["--reference"]:  # the pinned reference's own process (see `reference`)
        return _reference_main(json.loads(sys.argv[2]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="full", help="full, small, or a folder (see above)")
    # Both CPU plugins, pinned: a bare "cpu" is whichever has the higher priority (see README).
    ap.add_argument("--targets", nargs="+", default=["cpu@cpu", "cpu@onnx"])
    ap.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32])
    ap.add_argument("--seconds", type=float, default=8.0, help="per concurrency level")
    ap.add_argument("--repeat", type=int, default=1, help="measure each level this many times; report medians")
    ap.add_argument("--max-batch-size", type=int, default=8)
    ap.add_argument("--batch-wait-ms", type=float, default=0.0)
    # Several values are measured in the same run, one after the other, so they compare side by side.
    ap.add_argument("--workers", nargs="+", type=int, default=[1], help="the server's --workers (runs at once)")
    ap.add_argument(
        "--protocol",
        nargs="+",
        choices=["http", "grpc", "http-shm", "grpc-shm"],
        default=["http"],
        help="-shm: tensors in shared memory (Triton's system shared-memory extension)",
    )
    ap.add_argument(
        "--server-cpus",
        type=cpu_list,
        help="pin the server (and the reference) to these CPUs and the clients to the others, e.g. 0",
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.server_cpus is not None:
        os.sched_setaffinity(0, os.sched_getaffinity(0) - args.server_cpus)  # the client threads inherit it

    folder = model_dir(args.model)
    x, y = np.load(folder / "input_0.npy"), np.load(folder / "output_0.npy")
    model_file = folder / "model.mindir"
    print(f"model {folder.name}: input {list(x.shape[1:])}, {x[0].nbytes} bytes a sample; {os.cpu_count()} CPUs")
    if args.server_cpus is not None:
        print(f"server and reference on CPUs {sorted(args.server_cpus)}, clients on {sorted(os.sched_getaffinity(0))}")
    results: list[dict[str, Any]] = []
    floor = any(p.startswith("http") for p in args.protocol) and 1 in args.concurrency
    with tempfile.TemporaryDirectory() as tmp, floor_server(args.server_cpus) if floor else nullcontext() as port:
        repo = Path(tmp) / "mobilenet_v2" / "1"
        repo.mkdir(parents=True)
        (repo / "model.mindir").write_bytes(model_file.read_bytes())
        output = mi.open_model(model_file).outputs[0].name
        for target in args.targets:
            for protocol in args.protocol:
                for workers in args.workers:
                    print(f"\n{target}, {protocol}, --workers {workers}:", flush=True)
                    for batching in (False, True):
                        mbs = args.max_batch_size if batching else 0
                        flags = ["--target", target, "--max-batch-size", str(mbs), "--workers", str(workers)]
                        flags += ["--batch-wait-ms", str(args.batch_wait_ms)]
                        if args.server_cpus is not None:
                            flags += ["--option", f"threads={len(args.server_cpus)}"]
                        with Server(Path(tmp), *flags, cpus=args.server_cpus) as server:
                            for c in args.concurrency:
                                point = {"target": target, "protocol": protocol, "workers": workers}
                                point.update(batching=batching, concurrency=c)
                                r = measure(server, args, point, model_file, output, x, y, port)
                                results.append(r)
                                print("  " + describe(r, mbs), flush=True)
    print(
        "\n| target | protocol | workers | batching | concurrency | req/s | p50 ms | p99 ms | Session.run/s | ratio "
        "| CPU ms/req: server | clients | Session.run ms/sample | in server ms: request | run |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['target']} | {r['protocol']} | {r['workers']} | {'on' if r['batching'] else 'off'} | "
            f"{r['concurrency']} | {r['throughput']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['ceiling']:.1f} | "
            f"{r['ratio']:.2f} | {fmt(r['server_cpu_ms'])} | {fmt(r['client_cpu_ms'])} | {fmt(r['session_cpu_ms'])} | "
            f"{fmt(r['handled_ms'])} | {fmt(r['run_ms'])} |"
        )
    print("\ngoals:")
    for r in results:
        where = f"{r['target']} {r['protocol']} --workers {r['workers']}"
        if r["batching"] and r["concurrency"] == 32:  # the issue's throughput level
            print(
                f"  {where}: concurrency {r['concurrency']} with batching = {r['ratio']:.2f} of Session.run at batch "
                f"{args.max_batch_size} (goal >= 0.80: {'met' if r['ratio'] >= 0.8 else 'NOT met'}; runs: {r['ratios']})"
            )
        if not r["batching"] and r["concurrency"] == 1:
            bare = "" if r["floor_ms"] is None else f"; a bare uvicorn app answers it in {r['floor_ms']:.2f} ms"
            print(
                f"  {where}: concurrency 1 overhead = {r['overhead_ms']:.2f} ms per request on top of Session.run "
                f"(goal <= 1 ms: {'met' if r['overhead_ms'] <= 1.0 else 'NOT met'}; runs: {r['overheads']}{bare})"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if any(r["wrong"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
