"""What the onnx plugin adds on top of onnxruntime, and how long conversion takes.

For each network (zoo cache, batch 1): ``Session(model.mindir, target="cpu@onnx").run`` against a bare
``onnxruntime.InferenceSession`` on the converted file, same threads, same inputs, calls interleaved
in one process (so machine noise hits both alike). Reports the median per-pair time ratio (goal:
at most 1.05) and the converter's time on resnet50 (goal: well under 2 s).

    .venv/bin/python benchmarks/bench_onnx_overhead.py [--nets mobilenet_v2_100 resnet18] [--threads 1]
        [--runs 200] [--warmup 20] [--convert-net resnet50] [--json out.json]

The zoo networks come from tools/make_zoo.py (~/.cache/mindinfer/zoo/<net>/b1/). Timings are
reported, never asserted (they belong to the machine, not to the code).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ZOO = Path.home() / ".cache" / "mindinfer" / "zoo"


def _inputs(folder: Path) -> list[np.ndarray]:
    files = sorted(folder.glob("input_*.npy"), key=lambda p: int(p.stem.split("_")[-1]))
    return [np.load(f) for f in files]


def overhead(net: str, threads: int, runs: int, warmup: int) -> dict[str, Any]:
    """Interleaved timing of Session.run (cpu@onnx) and bare onnxruntime on the same converted model.

    A second bare session runs in the same rotation as a control: its ratio to the first is the
    noise floor of this machine, to read the Session's ratio against.
    """
    import mindinfer
    import onnxruntime as ort
    from mindinfer_onnx import convert_file

    folder = ZOO / net / "b1"
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = convert_file(folder / "model.mindir", Path(tmp) / f"{net}.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        bare = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        control = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    sess = mindinfer.Session(folder / "model.mindir", target="cpu@onnx", options={"threads": threads})
    xs = _inputs(folder)
    feeds = {i.name: x for i, x in zip(bare.get_inputs(), xs)}
    out_names = [o.name for o in bare.get_outputs()]
    same = all(np.array_equal(p, q) for p, q in zip(sess.run(xs), bare.run(out_names, feeds)))
    calls = [lambda: sess.run(xs), lambda: bare.run(out_names, feeds), lambda: control.run(out_names, feeds)]
    for _ in range(warmup):
        for call in calls:
            call()
    times: list[list[float]] = [[], [], []]
    clock = time.perf_counter
    for i in range(runs):
        # Rotate the order so that none always runs first (or right after the same neighbour).
        for k in range(3):
            which = (i + k) % 3
            t0 = clock()
            calls[which]()
            times[which].append(clock() - t0)
    t_sess, t_bare, t_ctrl = times
    sess.close()
    return {
        "net": net,
        "threads": threads,
        "runs": runs,
        "session_median_ms": 1e3 * statistics.median(t_sess),
        "bare_ort_median_ms": 1e3 * statistics.median(t_bare),
        "median_ratio": statistics.median(s / b for s, b in zip(t_sess, t_bare)),
        "control_median_ratio": statistics.median(c / b for c, b in zip(t_ctrl, t_bare)),
        "outputs_identical": same,
    }


def converter_time(net: str, repeats: int = 3) -> dict[str, Any]:
    """Load and convert times (best of ``repeats``), and a full convert_file (write + full check)."""
    import mindinfer
    from mindinfer_onnx import convert, convert_file

    path = ZOO / net / "b1" / "model.mindir"
    loads, converts = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = mindinfer.load(path)
        t1 = time.perf_counter()
        convert(model)
        t2 = time.perf_counter()
        loads.append(t1 - t0)
        converts.append(t2 - t1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        convert_file(path, Path(tmp) / "m.onnx")
        file_s = time.perf_counter() - t0
    return {
        "net": net,
        "load_s": min(loads),
        "convert_s": min(converts),
        "convert_file_s (load+convert+write+full check)": file_s,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", nargs="+", default=["mobilenet_v2_100", "resnet18"])
    # One thread by default: two sessions' spinning thread pools fight over a small machine's cores
    # and turn the comparison into noise (see the control ratio with --threads 2).
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--convert-net", default="resnet50")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    results: dict[str, Any] = {"overhead": [], "converter": None, "missing": []}
    for net in args.nets:
        if not (ZOO / net / "b1" / "model.mindir").is_file():
            results["missing"].append(net)
            print(f"{net}: not in {ZOO} (make it with tools/make_zoo.py); skipped", file=sys.stderr)
            continue
        r = overhead(net, args.threads, args.runs, args.warmup)
        results["overhead"].append(r)
        print(
            f"{net:>18} b1, {r['threads']} threads, {r['runs']} interleaved pairs: "
            f"Session {r['session_median_ms']:.3f} ms, bare onnxruntime {r['bare_ort_median_ms']:.3f} ms, "
            f"median ratio {r['median_ratio']:.4f} (goal <= 1.05; bare-vs-bare control "
            f"{r['control_median_ratio']:.4f}), identical outputs: {r['outputs_identical']}"
        )
    if (ZOO / args.convert_net / "b1" / "model.mindir").is_file():
        c = converter_time(args.convert_net)
        results["converter"] = c
        print(
            f"{args.convert_net:>18} converter: load {c['load_s']:.3f} s, convert {c['convert_s']:.3f} s "
            f"(goal well under 2 s); convert_file with write and full check "
            f"{c['convert_file_s (load+convert+write+full check)']:.3f} s"
        )
    else:
        results["missing"].append(args.convert_net)
        print(f"{args.convert_net}: not in {ZOO}; converter time not measured", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
