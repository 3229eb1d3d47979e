"""Latency of mindinfer against onnxruntime and MindSpore itself on the zoo networks, side by side (not a test).

    .venv/bin/python benchmarks/bench_zoo.py [--nets NET ...] [--batches 1 8] [--loops 20] [--threads 2]
        [--targets cpu@cpu cpu] [--mindspore VENV]

For each network and batch in ``~/.cache/mindinfer/zoo/<net>/b<batch>/`` (made by tools/make_zoo.py)
it times, interleaved (a burst of runs of each runner per round, so that machine load hits all alike,
with a pause before each burst so that no runner's spinning threads slow the next one):

* ``mindinfer`` -- ``mindinfer.Session(model.mindir, target=T, options={"threads": N})`` for each
  ``--targets`` T (default ``cpu@cpu``, the native plugin, and ``cpu``, which is the onnx plugin
  when onnxruntime is installed);
* ``onnxruntime`` -- on ``model.onnx`` when ``mindspore.onnx.export`` made one, else on the file our
  onnx plugin converts (labelled ``ort(conv)``) when ``mindinfer_onnx`` is installed;
* ``mindspore`` -- MindSpore's own ``nn.GraphCell(mindspore.load(...))``, run in MindSpore's own
  environment within the same run: ``--mindspore VENV`` (or ``$MINDINFER_BENCH_MINDSPORE``) names a
  virtual environment (or its python) with MindSpore installed, which runs benchmarks/_mindspore_worker.py
  as a child process; its bursts are interleaved with the others' like any runner's. Without it, the
  median stored in the zoo's case.json at export time is shown, marked ``(stored)``: it was measured
  at another time, under other load, and is no side-by-side comparison.

It prints median latencies in milliseconds and the ratios. The ``max|d|`` column is the first
target's largest absolute difference from MindSpore's stored output, as a sanity check. Nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

NETS = ["mobilenet_v2_100", "resnet18", "shufflenet_v2_x1_0", "vit_b_32_224"]
ZOO = Path(os.environ.get("MINDINFER_ZOO_DIR", Path.home() / ".cache" / "mindinfer" / "zoo"))

Runner = Callable[[], Any]
#: n timed runs in a row -> their times in seconds.
Burst = Callable[[int], list[float]]
#: Timed runs of one runner in a row, and the pause before each such burst (see bench()).
BURST = 3
QUIET_S = 0.05


def _mindinfer(folder: Path, x: np.ndarray, threads: int, target: str) -> tuple[Runner, np.ndarray, str]:
    """(runner, output, plugin that ran it)."""
    import mindinfer

    sess = mindinfer.Session(folder / "model.mindir", target=target, options={"threads": threads})
    return (lambda: sess.run([x])), sess.run([x])[0], sess.placement.plugin


def _ort_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _onnxruntime(folder: Path, x: np.ndarray, threads: int, tmp: Path) -> tuple[str, Runner | None, str]:
    """(label, runner, note): MindSpore's ONNX export if present, else our converter's output."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "ort", None, "onnxruntime not installed"
    path, label = folder / "model.onnx", "ort"
    if not path.is_file():
        try:
            import mindinfer
            from mindinfer_onnx.convert import convert, save
        except ImportError:
            return label, None, "no model.onnx and mindinfer_onnx not installed"
        try:
            path = save(
                convert(mindinfer.load(folder / "model.mindir")), tmp / f"{folder.parent.name}_{folder.name}.onnx"
            )
            label = "ort(conv)"
        except Exception as exc:  # noqa: BLE001 -- a benchmark reports and goes on
            return "ort(conv)", None, f"conversion failed: {type(exc).__name__}: {str(exc)[:80]}"
    try:
        sess = _ort_session(path, threads)
    except Exception as exc:  # noqa: BLE001
        return label, None, f"onnxruntime refused the file: {str(exc)[:80]}"
    name = sess.get_inputs()[0].name
    return label, (lambda: sess.run(None, {name: x})), ""


class MindSporeWorker:
    """MindSpore in its own virtual environment: benchmarks/_mindspore_worker.py as a child process."""

    def __init__(self, venv: str) -> None:
        import subprocess

        python = Path(venv)
        if python.is_dir():
            python = python / "bin" / "python"
        if not python.is_file():
            raise SystemExit(f"--mindspore {venv}: no python at {python}; give a venv with MindSpore installed")
        worker = Path(__file__).with_name("_mindspore_worker.py")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.proc = subprocess.Popen(
            [str(python), str(worker)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.version = ""

    def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the MindSpore worker exited")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _mindspore(
    folder: Path, threads: int, worker: MindSporeWorker | None
) -> tuple[str, Burst | None, float | None, str]:
    """(label, burst, stored_ms, note): live MindSpore through the worker, else the stored median."""
    if worker is not None:
        try:
            worker.version = worker.ask(load=str(folder), threads=threads).get("mindspore", "")
            return "mindspore", (lambda n: worker.ask(run=n)["times"]), None, ""
        except Exception as exc:  # noqa: BLE001 -- reported, and the stored median is shown instead
            note = f"MindSpore could not run it: {str(exc)[:100]}"
    else:
        note = ""
    info = json.loads((folder / "case.json").read_text()) if (folder / "case.json").is_file() else {}
    stored = (info.get("mindspore_latency_ms") or {}).get("median")
    return "stored", None, (float(stored) if stored is not None else None), note


def _burst(run: Runner) -> Burst:
    def burst(n: int) -> list[float]:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        return times

    return burst


def bench(
    folder: Path, loops: int, threads: int, tmp: Path, targets: list[str], worker: MindSporeWorker | None
) -> dict[str, Any]:
    x = np.load(folder / "input_0.npy")
    ref = np.load(folder / "output_0.npy")
    bursts: dict[str, Burst] = {}
    plugins: dict[str, str] = {}
    first_out = None
    for target in targets:
        run, out, plugin = _mindinfer(folder, x, threads, target)
        bursts[target], plugins[target] = _burst(run), plugin
        first_out = out if first_out is None else first_out
    ort_label, ort_run, ort_note = _onnxruntime(folder, x, threads, tmp)
    ms_label, ms_burst, ms_stored, ms_note = _mindspore(folder, threads, worker)
    if ort_run is not None:
        bursts["ort"] = _burst(ort_run)
    if ms_burst is not None:
        bursts["ms"] = ms_burst
    for burst in bursts.values():  # warm-up: first-run allocations, thread pools
        burst(2)
    times: dict[str, list[float]] = {k: [] for k in bursts}
    for _ in range(loops):
        for key, burst in bursts.items():
            # Let the previous runner's threads go idle first: onnxruntime's and OpenBLAS's workers
            # spin for a while after a run and would take a core from whichever runner comes next.
            time.sleep(QUIET_S)
            times[key].extend(burst(BURST))
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    assert first_out is not None
    return {
        "mi": {t: med[t] for t in targets},
        "plugins": plugins,
        "ort": med.get("ort"),
        "ort_label": ort_label,
        "notes": [n for n in (ort_note and f"onnxruntime: {ort_note}", ms_note) if n],
        "ms": med.get("ms", ms_stored),
        "ms_label": ms_label,
        "maxdiff": float(np.max(np.abs(first_out.astype(np.float64) - ref))),
    }


def _print_blas() -> None:
    """numpy's BLAS kernels bound the cpu plugin's convolutions; onnxruntime picks its own kernels."""
    try:
        from mindinfer_cpu._blas import blas_core, blas_core_note, blas_info
    except ImportError:
        return
    print(f"numpy BLAS: {blas_info()} kernels={blas_core()}")
    note = blas_core_note()
    if note:
        print(f"note: {note}")


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", nargs="+", default=NETS)
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--loops", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--zoo", type=Path, default=ZOO)
    ap.add_argument("--targets", nargs="+", default=["cpu@cpu", "cpu"], help="mindinfer targets to time")
    ap.add_argument(
        "--mindspore",
        default=os.environ.get("MINDINFER_BENCH_MINDSPORE"),
        metavar="VENV",
        help="a virtual environment (or its python) with MindSpore, run side by side "
        "(default: $MINDINFER_BENCH_MINDSPORE; without it, the latencies stored at export time are shown)",
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    worker = MindSporeWorker(args.mindspore) if args.mindspore else None

    cols = "".join(f" {t + ' ms':>12}" for t in args.targets)
    ratios = "".join(f" {'MS/' + t:>11}" for t in args.targets)
    header = f"{'network':22} {'b':>2}{cols} {'ort ms':>9} {'MindSpore ms':>14}{ratios} {'mi/ort':>7} {'max|d|':>8}"
    where = f"live, {args.mindspore}" if worker else "stored at export time"
    print(f"threads={args.threads} loops={args.loops} zoo={args.zoo} MindSpore: {where}")
    _print_blas()
    print(header)
    print("-" * len(header))
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for net in args.nets:
            for b in args.batches:
                folder = args.zoo / net / f"b{b}"
                if not (folder / "model.mindir").is_file():
                    print(f"{net:22} {b:>2}  (not in the zoo: run tools/make_zoo.py {net})")
                    continue
                try:
                    r = bench(folder, args.loops, args.threads, Path(tmp), args.targets, worker)
                except Exception as exc:  # noqa: BLE001 -- report and continue with the next network
                    print(f"{net:22} {b:>2}  failed: {type(exc).__name__}: {str(exc)[:100]}")
                    continue
                ms_text = _fmt(r["ms"], ".1f") + (
                    " (stored)" if r["ms_label"] == "stored" and r["ms"] is not None else ""
                )
                ort_text = _fmt(r["ort"]) + ("*" if r["ort_label"] == "ort(conv)" and r["ort"] is not None else "")
                mi_text = "".join(f" {r['mi'][t]:>12.2f}" for t in args.targets)
                speedups = "".join(
                    f" {_fmt(r['ms'] / r['mi'][t] if r['ms'] else None, '.1f'):>11}" for t in args.targets
                )
                first = args.targets[0]
                vs_ort = r["mi"][first] / r["ort"] if r["ort"] else None
                print(
                    f"{net:22} {b:>2}{mi_text} {ort_text:>9} {ms_text:>14}{speedups} {_fmt(vs_ort):>7} "
                    f"{r['maxdiff']:>8.1e}"
                )
                notes += [f"{net} b{b}: {n}" for n in r["notes"]]
                notes += [
                    f"{net} b{b}: target {t} ran on plugin {p!r}" for t, p in r["plugins"].items() if "@" not in t
                ]
    if worker is not None:
        worker.close()
    if notes:
        print("\n" + "\n".join(dict.fromkeys(notes)))
    version = f" {worker.version}" if worker and worker.version else ""
    print(f"\nMS/T: times faster than MindSpore{version} on target T; mi/ort: {args.targets[0]} over onnxruntime.")
    print("* onnxruntime on the mindinfer_onnx conversion (MindSpore's own ONNX export was not available).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
