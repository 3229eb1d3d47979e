"""What `mindinfer serve` does per request besides the run, part by part, in this process.

    .venv/bin/python benchmarks/bench_serve_parts.py [--model full|small|DIR] [--target cpu@onnx] [--n 300]

The parts of a KServe v2 HTTP infer request that happen in the server around the model's run:
putting the body tritonclient sends (binary tensor) together from the chunks uvicorn hands over,
decoding it, checking it against the model's inputs, encoding the reply and the Prometheus metrics,
each timed warm (back to back) and right after a run of the model, as in the server, where the run
has pushed the server's code and data out of the caches; and the hand-off to the run's thread and
back (``run_in_executor``, as the server does it), timed around the run itself on a running event
loop. Medians of ``--n`` in microseconds; pin it to one CPU (``taskset -c 0``) to see it as
`bench_serve.py --server-cpus 0` runs the server. `bench_serve.py` reports the server's time per
request besides its run as a whole ("in the server: request, run"); this says where it goes, and
`bench_serve_timeline.py` times the same stages inside the live server.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from mindinfer.serve import v2
from mindinfer.serve.batching import BatchStats
from mindinfer.serve.metrics import Metrics
from mindinfer.serve.model import ServedModel, ServeSettings
from mindinfer.serve.repository import ModelRepository


def median_us(part: Callable[[], Any], before: Callable[[], Any] | None, n: int) -> float:
    times = []
    for _ in range(n):
        if before is not None:
            before()
        t = time.perf_counter()
        part()
        times.append(time.perf_counter() - t)
    return 1e6 * statistics.median(times)


def hand_off_us(hand_off: Callable[[Callable[[], float]], Awaitable[float]], run: Callable[[], Any], n: int) -> float:
    """Median microseconds of awaiting ``hand_off(call)`` on a running event loop, where ``call`` runs
    the model on the other thread, less the run itself: the hand-off there and back as the server
    pays it, to a thread that slept and back to a loop that slept through the run."""

    def timed_run() -> float:
        t = time.perf_counter()
        run()
        return time.perf_counter() - t

    async def timed() -> float:
        times = []
        for _ in range(n):
            t = time.perf_counter()
            ran = await hand_off(timed_run)
            times.append(time.perf_counter() - t - ran)
            await asyncio.sleep(0.0005)  # the loop idles between requests, as at concurrency 1
        return 1e6 * statistics.median(times)

    return asyncio.run(timed())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="full", help="full, small, or a folder (bench_serve.py's models)")
    ap.add_argument("--target", default="cpu@onnx")
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    import tritonclient.http as thttp

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_serve import model_dir  # the same model folders

    folder = model_dir(args.model)
    x = np.load(folder / "input_0.npy")[:1]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(4) as pool:
        version = Path(tmp) / "m" / "1"
        version.mkdir(parents=True)
        (version / "model.mindir").write_bytes((folder / "model.mindir").read_bytes())
        (mv,) = ModelRepository.open(Path(tmp)).versions
        entry = ServedModel(mv, ServeSettings(target=args.target, max_batch_size=0), pool)
        entry.load()
        if not entry.ready:
            sys.exit(f"bench_serve_parts: the model did not load on {args.target}: {entry.error}")
        tensor = thttp.InferInput(entry.inputs[0].name, list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        body, header = thttp.InferenceServerClient.generate_request_body([tensor])
        # As uvicorn hands a large body over: in chunks of about 64 KB, put together by the server.
        chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
        assembled = v2.aligned_body(chunks, header)
        req = v2.decode_rest(assembled, header)
        arrays = entry.validate(req.inputs)
        assert entry._session is not None
        session = entry._session
        outs = session.run(arrays)
        metrics = Metrics()
        stats = BatchStats(1, (0.00004,), 0.004)

        def metrics_part() -> None:
            metrics.on_run(entry, 1, 1)
            metrics.on_batch(entry, stats)
            metrics.done(entry.name, str(entry.version), 0.0042, None)

        parts: dict[str, Callable[[], Any]] = {
            "aligned_body (the chunks put together)": lambda: v2.aligned_body(chunks, header),
            "decode_rest (the request body)": lambda: v2.decode_rest(assembled, header),
            "validate (against the model's inputs)": lambda: entry.validate(req.inputs),
            "encode_rest (the reply)": lambda: v2.encode_rest(entry, req, outs),
            "metrics (on_run, on_batch, done)": metrics_part,
        }
        print(f"{folder.name} on {args.target}: {len(body)}-byte request; medians of {args.n}, microseconds")
        print(f"  {'part':44} {'warm':>8} {'after a run':>12}")
        total = [0.0, 0.0]

        def show(name: str, warm: float | None, cold: float) -> None:
            total[:] = [total[0] + (warm or 0.0), total[1] + cold]
            print(f"  {name:44} {'-' if warm is None else format(warm, '.1f'):>8} {cold:12.1f}")

        def run_model() -> None:
            session.run(arrays)

        for name, part in parts.items():
            show(name, median_us(part, None, args.n), median_us(part, run_model, args.n))

        async def executor(call: Callable[[], float]) -> float:
            return await asyncio.get_running_loop().run_in_executor(pool, call)

        # A hand-off happens only around a run: it has no warm figure.
        show("hand-off around a run (run_in_executor)", None, hand_off_us(executor, run_model, args.n))
        print(f"  {'sum':44} {total[0]:8.1f} {total[1]:12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
