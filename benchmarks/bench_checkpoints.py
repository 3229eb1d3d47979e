"""What decryption and checkpoints cost at load time, against a plain load and against MindSpore.

    /work/msvenv/bin/python tools/make_checkpoint_cases.py --bench DIR [--net resnet18]
    .venv/bin/python benchmarks/bench_checkpoints.py DIR [--repeat 5]

For each file in DIR it times ``mindinfer.load`` (median of ``--repeat`` interleaved rounds, after one warm-up load each): the plain MindIR, AES-GCM,
AES-CBC, the split layout (AES-GCM), and the plain MindIR with each checkpoint applied; it prints the
ratio to the plain load and to MindSpore's own time for the same file (``ms.load`` /
``load_checkpoint`` + ``load_param_into_net``, measured by the maker, stored in ``bench.json``: MindSpore
is not importable here). It also checks that a cpu Session built with the .ckpt matches MindSpore's
output after loading it. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import mindinfer as mi
import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    d: Path = args.dir
    ref = json.loads((d / "bench.json").read_text())
    gcm, cbc = (d / "gcm.key").read_bytes(), (d / "cbc.key").read_bytes()
    rows: list[tuple[str, dict[str, Any], float | None]] = [
        ("net.mindir", {}, ref["load_s"]["plain"]),
        ("net_gcm.mindir", {"dec_key": gcm}, ref["load_s"]["gcm"]),
        ("net_cbc.mindir", {"dec_key": cbc, "dec_mode": "AES-CBC"}, ref["load_s"]["cbc"]),
        ("split_gcm/net_graph.mindir", {"dec_key": gcm}, ref["load_s"]["split_gcm"]),
        ("net.mindir", {"checkpoint": d / "weights.ckpt"}, None),
        ("net.mindir", {"checkpoint": d / "weights.safetensors"}, None),
    ]
    print(
        f"{ref['net']}: mindinfer.load, median of {args.repeat} (MindSpore {ref['mindspore']} times stored by the maker)"
    )
    print(f"{'file':<44} {'mindinfer':>10} {'x plain':>8} {'mindspore':>10} {'x ms':>6}")
    for file, kw, _ in rows:
        mi.load(d / file, **kw)  # warm-up: imports, page cache, allocator
    times: list[list[float]] = [[] for _ in rows]
    for _ in range(args.repeat):  # interleaved rounds: machine load hits every row alike
        for i, (file, kw, _) in enumerate(rows):
            t0 = time.perf_counter()
            mi.load(d / file, **kw)
            times[i].append(time.perf_counter() - t0)
    plain = statistics.median(times[0])
    for (file, kw, ms_time), ts in zip(rows, times):
        t = statistics.median(ts)
        label = file + (f" + {kw['checkpoint'].name}" if "checkpoint" in kw else "")
        if "checkpoint" in kw:  # MindSpore's figure: the plain load plus load_checkpoint + load_param_into_net
            ms_time = ref["load_s"]["plain"] + ref["checkpoint_s"][kw["checkpoint"].name]
        ms_col = f"{ms_time * 1e3:8.1f}ms {t / ms_time:6.2f}" if ms_time else ""
        print(f"{label:<44} {t * 1e3:8.1f}ms {t / plain:8.2f} {ms_col}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with mi.Session(d / "net.mindir", checkpoint=d / "weights.ckpt") as sess:
            (out,) = sess.run([np.load(d / "input_0.npy")])
    exp = np.load(d / "expected_ckpt.npy")
    print(f"cpu Session with weights.ckpt vs MindSpore after load_checkpoint: max|d| {np.max(np.abs(out - exp)):.3g} "
          f"(max|ms| {np.max(np.abs(exp)):.3g})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
