"""Latency of the cpu plugin against onnxruntime and MindSpore on the zoo networks (not a test).

    .venv/bin/python benchmarks/bench_zoo.py [--nets NET ...] [--batches 1 8] [--loops 20] [--threads 2]

For each network and batch in ``~/.cache/mindinfer/zoo/<net>/b<batch>/`` (made by tools/make_zoo.py)
it times, interleaved (a burst of runs of each runner per round, so that machine load hits all alike,
with a pause before each burst so that no runner's spinning threads slow the next one):

* ``mindinfer`` -- ``mindinfer.Session(model.mindir, target="cpu", options={"threads": N})``;
* ``onnxruntime`` -- on ``model.onnx`` when ``mindspore.onnx.export`` made one, else on the file our
  onnx plugin converts (labelled ``ort(conv)``) when ``mindinfer_onnx`` is installed;
* ``mindspore`` -- ``nn.GraphCell(mindspore.load(...))`` when mindspore imports here, else the median
  latency stored in the zoo's case.json (labelled ``stored``; measured by make_zoo.py on 2 threads).

It prints median latencies in milliseconds and the ratios. The ``max|d|`` column is mindinfer's largest
absolute difference from MindSpore's stored output, as a sanity check. Nothing here asserts a time.
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
#: Timed runs of one runner in a row, and the pause before each such burst (see bench()).
BURST = 3
QUIET_S = 0.05


def _mindinfer(folder: Path, x: np.ndarray, threads: int) -> tuple[Runner, np.ndarray]:
    import mindinfer

    sess = mindinfer.Session(folder / "model.mindir", target="cpu", options={"threads": threads})
    return (lambda: sess.run([x])), sess.run([x])[0]


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


def _mindspore(folder: Path, x: np.ndarray, threads: int) -> tuple[str, Runner | None, float | None]:
    """(label, runner, stored_ms): a live GraphCell when mindspore imports, else the stored median."""
    try:
        import mindspore as ms
        from mindspore import nn

        ms.set_context(mode=ms.GRAPH_MODE)
        ms.set_device("CPU")
        ms.device_context.cpu.op_tuning.threads_num(threads)
        cell = nn.GraphCell(ms.load(str(folder / "model.mindir")))
        xt = ms.Tensor(x)

        def run() -> Any:
            out = cell(xt)
            return out.asnumpy() if hasattr(out, "asnumpy") else out

        return "mindspore", run, None
    except Exception:  # noqa: BLE001 -- not installed, or this build cannot load the file
        info = json.loads((folder / "case.json").read_text()) if (folder / "case.json").is_file() else {}
        stored = (info.get("mindspore_latency_ms") or {}).get("median")
        return "stored", None, (float(stored) if stored is not None else None)


def bench(folder: Path, loops: int, threads: int, tmp: Path) -> dict[str, Any]:
    x = np.load(folder / "input_0.npy")
    ref = np.load(folder / "output_0.npy")
    mi_run, mi_out = _mindinfer(folder, x, threads)
    ort_label, ort_run, ort_note = _onnxruntime(folder, x, threads, tmp)
    ms_label, ms_run, ms_stored = _mindspore(folder, x, threads)
    runners: dict[str, Runner] = {"mindinfer": mi_run}
    if ort_run is not None:
        runners["ort"] = ort_run
    if ms_run is not None:
        runners["ms"] = ms_run
    for run in runners.values():  # warm-up: first-run allocations, thread pools
        for _ in range(2):
            run()
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(loops):
        for key, run in runners.items():
            # Let the previous runner's threads go idle first: onnxruntime's and OpenBLAS's workers
            # spin for a while after a run and would take a core from whichever runner comes next.
            time.sleep(QUIET_S)
            for _ in range(BURST):
                t0 = time.perf_counter()
                run()
                times[key].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return {
        "mi": med["mindinfer"],
        "ort": med.get("ort"),
        "ort_label": ort_label,
        "ort_note": ort_note,
        "ms": med.get("ms", ms_stored),
        "ms_label": ms_label,
        "maxdiff": float(np.max(np.abs(mi_out.astype(np.float64) - ref))),
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
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    header = f"{'network':22} {'b':>2} {'mindinfer ms':>12} {'ort ms':>9} {'MindSpore ms':>14} {'MS/mi':>7} {'mi/ort':>7} {'max|d|':>8}"
    print(f"threads={args.threads} loops={args.loops} zoo={args.zoo}")
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
                    r = bench(folder, args.loops, args.threads, Path(tmp))
                except Exception as exc:  # noqa: BLE001 -- report and continue with the next network
                    print(f"{net:22} {b:>2}  failed: {type(exc).__name__}: {str(exc)[:100]}")
                    continue
                ms_text = _fmt(r["ms"], ".1f") + (
                    " (stored)" if r["ms_label"] == "stored" and r["ms"] is not None else ""
                )
                ort_text = _fmt(r["ort"]) + ("*" if r["ort_label"] == "ort(conv)" and r["ort"] is not None else "")
                speedup = r["ms"] / r["mi"] if r["ms"] else None
                vs_ort = r["mi"] / r["ort"] if r["ort"] else None
                print(
                    f"{net:22} {b:>2} {r['mi']:>12.2f} {ort_text:>9} {ms_text:>14} {_fmt(speedup, '.1f'):>7} "
                    f"{_fmt(vs_ort):>7} {r['maxdiff']:>8.1e}"
                )
                if r["ort_note"]:
                    notes.append(f"{net} b{b}: onnxruntime: {r['ort_note']}")
    if notes:
        print("\n" + "\n".join(notes))
    print("\nMS/mi: times faster than MindSpore (goal >= 20); mi/ort: mindinfer over onnxruntime (goal <= 1.5 at b8);")
    print("* onnxruntime on the mindinfer_onnx conversion (MindSpore's own ONNX export was not available).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
