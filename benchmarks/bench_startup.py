"""Start-up costs: the CLI's first commands, a first Session per plugin, and the onnx plugin's parts (not a test).

    .venv/bin/python benchmarks/bench_startup.py [--model M.mindir] [--repeat 5]

Every number is a fresh process (``python -c`` or the ``mindinfer`` command), the median of
``--repeat`` runs (the ratios use the minimum too, which a busy machine disturbs least), so that
imports are paid as a user pays them:

* ``mindinfer --help``, ``plugins`` and ``inspect MODEL``;
* a first ``Session(MODEL, target)`` plus one run, pinned to each plugin, with every plugin installed
  against with only that plugin loaded (``MINDINFER_PLUGINS=<it>``, which imports nothing of the
  others): the ratio is what the other installed plugins cost a pinned Session;
* the onnx plugin's first Session, part by part: importing onnxruntime, converting the MindIR to
  ONNX messages, creating onnxruntime's session, the first run; and ``import onnx``, which the
  plugin no longer pays (it loads only onnx's generated protobuf module).
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "conformance" / "mindinfer_conformance" / "cases" / "model" / "mobilenet_v2_035_96_c10" / "model.mindir"
MINDINFER = [sys.executable, "-m", "mindinfer"]

FIRST_SESSION = """
import time, numpy as np
t0 = time.perf_counter()
import mindinfer
s = mindinfer.Session({model!r}, target={target!r})
s.warmup()
print(time.perf_counter() - t0)
"""

ONNX_PARTS = """
import json, sys, time
t = time.perf_counter()
import mindinfer
from mindinfer_onnx import convert
model = mindinfer.load({model!r})
parts = {{"import mindinfer + load": time.perf_counter() - t}}
t = time.perf_counter(); import onnxruntime as ort; parts["import onnxruntime"] = time.perf_counter() - t
t = time.perf_counter(); data = convert(model).SerializeToString(); parts["convert to ONNX"] = time.perf_counter() - t
so = ort.SessionOptions(); so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
t = time.perf_counter(); sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
parts["onnxruntime session"] = time.perf_counter() - t
import numpy as np
feed = {{i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32) for i in sess.get_inputs()}}
t = time.perf_counter(); sess.run(None, feed); parts["first run"] = time.perf_counter() - t
parts["onnx package imported"] = "onnx" in sys.modules
print(json.dumps(parts))
"""


# PYTHONDONTWRITEBYTECODE makes every process compile every module from source again (about a
# tenth of a second here): an installation has its bytecode caches, so they are allowed here too.
_DROP = ("MINDINFER_PLUGINS", "MINDINFER_DISABLE_PLUGIN_AUTOLOAD", "PYTHONDONTWRITEBYTECODE")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    return {**env, **extra}


def _wall(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=300)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _inner(code: str, env: dict[str, str], repeat: int) -> float:
    """Median of what the script itself prints (its own seconds, after the interpreter started)."""
    return statistics.median(_inner_all(code, env, repeat))


def _inner_all(code: str, env: dict[str, str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env, timeout=300
        )
        out.append(float(proc.stdout.split()[-1]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    model, n = str(args.model), args.repeat
    print(f"model: {args.model.name}; median of {n} fresh processes each")
    _wall(MINDINFER + ["inspect", model], _env(), 1)  # writes the bytecode caches, as an install does
    python = _wall([sys.executable, "-c", "pass"], _env(), n)
    print(f"  python -c pass                      {python * 1e3:8.0f} ms  (the interpreter alone)")
    for label, cmd in (
        ("mindinfer --help", ["--help"]),
        ("mindinfer plugins", ["plugins"]),
        ("mindinfer inspect MODEL", ["inspect", model]),
    ):
        print(f"  {label:34} {_wall(MINDINFER + cmd, _env(), n) * 1e3:8.0f} ms")
    print("first Session + one run, pinned (in-process seconds, after the interpreter started):")
    for target, plugin in (("cpu@cpu", "cpu"), ("cpu@onnx", "onnx")):
        code = FIRST_SESSION.format(model=model, target=target)
        every = _inner_all(code, _env(), n)
        alone = _inner_all(code, _env(MINDINFER_PLUGINS=plugin), n)
        med_all, med_one = statistics.median(every), statistics.median(alone)
        print(
            f"  {target:10} all plugins {med_all * 1e3:7.0f} ms   only {plugin!r} {med_one * 1e3:7.0f} ms   "
            f"ratio {med_all / med_one:.2f} (of minima {min(every) / min(alone):.2f})"
        )
    print("the onnx plugin's first Session, by part (one process each, median):")
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", ONNX_PARTS.format(model=model)],
                check=True,
                capture_output=True,
                text=True,
                env=_env(),
                timeout=300,
            ).stdout
        )
        for _ in range(n)
    ]
    for key in runs[0]:
        if key == "onnx package imported":
            print(f"  {key:34} {runs[0][key]}")
        else:
            print(f"  {key:34} {statistics.median(r[key] for r in runs) * 1e3:8.1f} ms")
    onnx_import = _inner("import time; t = time.perf_counter(); import onnx; print(time.perf_counter() - t)", _env(), n)
    print(f"  (import onnx, no longer paid:       {onnx_import * 1e3:8.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
