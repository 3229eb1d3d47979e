"""Runs MindSpore's own ``nn.GraphCell(mindspore.load(...))`` for bench_zoo.py, in MindSpore's venv.

MindSpore is never a mindinfer dependency, so it runs in its own environment, as a child process of
the benchmark: ``bench_zoo.py --mindspore /path/to/venv`` starts this file with that venv's Python.
It reads one JSON command a line on stdin and answers one JSON line on stdout:

* ``{"load": FOLDER, "threads": N}`` -> ``{"ok": true}``: loads FOLDER/model.mindir, FOLDER/input_0.npy;
* ``{"run": K}`` -> ``{"times": [seconds, ...]}``: K timed runs, each timed here (no pipe in the time).

Errors answer ``{"error": "..."}``. This file imports nothing from mindinfer.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Any


def main() -> int:
    import mindspore as ms
    import numpy as np
    from mindspore import nn

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    state: dict[str, Any] = {}
    out = sys.stdout
    sys.stdout = sys.stderr  # MindSpore's own prints must not corrupt the protocol
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if "load" in cmd:
                threads = int(cmd.get("threads", 2))
                if "threads" not in state:  # MindSpore sets these once per process
                    ms.device_context.cpu.op_tuning.threads_num(threads)
                    with contextlib.suppress(Exception):  # older MindSpore: not settable
                        ms.runtime.dispatch_threads_num(threads)
                    state["threads"] = threads
                state["cell"] = nn.GraphCell(ms.load(os.path.join(cmd["load"], "model.mindir")))
                state["x"] = ms.Tensor(np.load(os.path.join(cmd["load"], "input_0.npy")))
                answer: dict[str, Any] = {"ok": True, "mindspore": ms.__version__}
            elif "run" in cmd:
                times = []
                for _ in range(int(cmd["run"])):
                    t0 = time.perf_counter()
                    r = state["cell"](state["x"])
                    (r[0] if isinstance(r, (tuple, list)) else r).asnumpy()
                    times.append(time.perf_counter() - t0)
                answer = {"times": times}
            else:
                answer = {"error": f"unknown command {cmd!r}"}
        except Exception as exc:  # noqa: BLE001 -- reported to the benchmark, which goes on
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
