"""Export mindcv networks with real MindSpore into the local zoo cache (never into the repository).

    /work/msvenv/bin/python tools/make_zoo.py [NET ...] [--timeout S] [--batches 1 8] [--no-onnx]

For each network: `mindcv.create_model(name, pretrained=False)` with a fixed seed, BatchNorm statistics
calibrated on one random batch and then perturbed (so folding errors show), eval mode; for each batch size
`$MINDINFER_ZOO_DIR/<net>/b<N>/` (default `~/.cache/mindinfer/zoo`) gets `model.mindir`, `input_0.npy`,
`output_0.npy` (MindSpore's output), `case.json` (primitive inventory read from the file, median latency
of MindSpore's own `nn.GraphCell(mindspore.load(...))` with 2 threads) and `model.onnx` when
`mindspore.export(..., file_format="ONNX")` works (else the error's first line in case.json).
Each network runs in its own subprocess with a time limit; `tools/zoo_report.md` summarises all networks
found in the cache. MindSpore is a data-making tool only, never a dependency of mindinfer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REPORT = os.path.join(HERE, "zoo_report.md")

BENCHMARK = ["mobilenet_v2_100", "resnet18", "shufflenet_v2_x1_0", "vit_b_32_224"]
OTHERS = [
    "resnet50",
    "resnext50_32x4d",
    "mobilenet_v1_100",
    "mobilenet_v3_small_100",
    "mobilenet_v3_large_100",
    "efficientnet_b0",
    "shufflenet_v1_g3_10",
    "squeezenet1_0",
    "densenet121",
    "regnet_x_200mf",
    "ghostnet_100",
    "repvgg_a0",
    "mnasnet_100",
    "mixnet_s",
    "googlenet",
    "inception_v3",
    "swin_tiny",
    "pvt_tiny",
    "poolformer_s12",
    "mobilevit_xx_small",
    "seresnet18",
    "skresnet18",
]
DEFAULT = BENCHMARK + OTHERS


def zoo_dir() -> str:
    return os.path.expanduser(os.environ.get("MINDINFER_ZOO_DIR", "~/.cache/mindinfer/zoo"))


def input_size(name: str) -> int:
    if name.startswith("inception"):
        return 299
    if name.startswith("mobilevit"):
        return 256
    last = name.rsplit("_", 1)[-1]
    if name.startswith("mobilenet_v2") and last.isdigit() and int(last) in (96, 128, 160, 192):
        return int(last)
    return 224


# ------------------------------------------------------------------------------------------------
# worker (one network, in its own process)
# ------------------------------------------------------------------------------------------------
def calibrate_and_perturb_bn(net, ms, nn, ops, np, rng, *inputs):
    """Moving stats := statistics of one batch (the network's inputs), then perturbed; gamma/beta randomised."""
    bns = [c for _, c in net.cells_and_names() if isinstance(c, nn.layer.normalization._BatchNorm)]
    if not bns:
        return 0
    for c in bns:
        c.bn_train = ops.BatchNorm(is_training=True, epsilon=c.eps, momentum=1.0, data_format=c.format)
    net.set_train(True)
    net(*[ms.Tensor(x) for x in inputs])
    net.set_train(False)
    for c in bns:
        # A BatchNorm over one value per channel (batch 1, 1x1: SVTR's STN head) has no variance: NaN.
        mean = np.nan_to_num(c.moving_mean.asnumpy().astype(np.float64), nan=0.0)
        var = np.maximum(np.nan_to_num(c.moving_variance.asnumpy().astype(np.float64), nan=1.0), 1e-3)
        n = mean.shape
        mean = mean + rng.normal(0.0, 0.2, n) * np.sqrt(var)
        var = var * rng.uniform(0.7, 1.4, n)
        c.moving_mean.set_data(ms.Tensor(mean.astype(np.float32)))
        c.moving_variance.set_data(ms.Tensor(var.astype(np.float32)))
        if c.gamma.requires_grad or True:
            c.gamma.set_data(ms.Tensor(rng.uniform(0.6, 1.4, n).astype(np.float32)))
            c.beta.set_data(ms.Tensor(rng.normal(0.0, 0.1, n).astype(np.float32)))
    return len(bns)


def worker(name: str, batches, do_onnx: bool, loops: int) -> int:
    os.environ["OMP_NUM_THREADS"] = "2"
    import mindspore as ms
    import numpy as np
    from mindspore import nn, ops

    sys.path.insert(0, HERE)
    import _msutil as U
    import mindcv

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    ms.device_context.cpu.op_tuning.threads_num(2)
    try:
        ms.runtime.dispatch_threads_num(2)
    except Exception:  # noqa: BLE001
        pass
    seed = U.seed_for(name) % 100000
    ms.set_seed(seed)
    np.random.seed(seed)
    rng = np.random.default_rng(seed)
    hw = input_size(name)
    t0 = time.time()
    net = mindcv.create_model(name, pretrained=False)
    net.set_train(False)
    calib = rng.normal(0.0, 1.0, (2, 3, hw, hw)).astype(np.float32)
    n_bn = calibrate_and_perturb_bn(net, ms, nn, ops, np, rng, calib)
    n_params = int(sum(int(np.prod(p.shape)) for p in net.get_parameters()))
    build_s = time.time() - t0
    root = os.path.join(zoo_dir(), name)
    for b in batches:
        d = os.path.join(root, f"b{b}")
        os.makedirs(d, exist_ok=True)
        for fn in os.listdir(d):
            os.remove(os.path.join(d, fn))
        x = np.random.default_rng(seed + b).normal(0.0, 1.0, (b, 3, hw, hw)).astype(np.float32)
        t1 = time.time()
        out = net(ms.Tensor(x))
        outs = U.flatten_outputs(out)
        run_s = time.time() - t1
        np.save(os.path.join(d, "input_0.npy"), x)
        for i, o in enumerate(outs):
            np.save(os.path.join(d, f"output_{i}.npy"), o)
        t1 = time.time()
        ms.export(net, ms.Tensor(x), file_name=os.path.join(d, "model"), file_format="MINDIR")
        export_s = time.time() - t1
        files = sorted(os.listdir(d))
        mindir = os.path.join(d, "model.mindir")
        inv = U.inventory(mindir)
        # latency of MindSpore's own loader on the exported file
        g = nn.GraphCell(ms.load(mindir))
        xt = ms.Tensor(x)
        re = U.flatten_outputs(g(xt))
        reload_ok = all(np.allclose(a, c, rtol=1e-4, atol=1e-4) for a, c in zip(re, outs))
        times = []
        budget_s = 25.0  # MindSpore's CPU convolutions are slow: cap the time spent timing
        t_start = time.perf_counter()
        for i in range(loops):
            t1 = time.perf_counter()
            r = g(xt)
            r.asnumpy() if hasattr(r, "asnumpy") else None
            times.append(time.perf_counter() - t1)
            if i >= 2 and time.perf_counter() - t_start > budget_s:
                break
        lat_ms = float(np.median(times) * 1000.0)
        onnx = {"attempted": do_onnx}
        if do_onnx:
            try:
                t1 = time.time()
                ms.export(net, ms.Tensor(x), file_name=os.path.join(d, "model"), file_format="ONNX")
                onnx.update(
                    ok=True, seconds=round(time.time() - t1, 1), bytes=os.path.getsize(os.path.join(d, "model.onnx"))
                )
            except Exception as e:  # noqa: BLE001
                lines = [s for s in str(e).strip().splitlines() if s.strip() and not s.startswith("-")]
                onnx.update(ok=False, error=f"{type(e).__name__}: {lines[0][:300] if lines else ''}")
        o0 = outs[0]
        meta = {
            "name": f"{name}_b{b}",
            "network": name,
            "tier": "zoo",
            "dtype": "float32",
            "rtol": 1e-3,
            "atol": 1e-4,
            **U.requirement_fields(inv, sorted(inv["dtypes"] | {"float32"})),
            "inputs": [{"shape": list(x.shape), "dtype": "float32"}],
            "outputs": [{"shape": list(o.shape), "dtype": str(o.dtype)} for o in outs],
            "output_stats": {
                "finite": bool(np.isfinite(o0).all()),
                "mean_abs": float(np.abs(o0).mean()),
                "max_abs": float(np.abs(o0).max()),
            },
            "parameters": n_params,
            "batchnorm_layers": n_bn,
            "mindir_bytes": os.path.getsize(mindir),
            "files": files,
            "mindspore_latency_ms": {
                "median": round(lat_ms, 3),
                "loops": len(times),
                "threads": 2,
                "all": [round(t * 1000, 3) for t in times],
            },
            "mindspore_reload_check": "ok" if reload_ok else "MISMATCH",
            "onnx_export": onnx,
            "timings_s": {
                "build_and_calibrate": round(build_s, 1),
                "first_run": round(run_s, 1),
                "export": round(export_s, 1),
            },
            "note": f"mindcv {mindcv.__version__} create_model('{name}', pretrained=False), seeded; "
            "BatchNorm stats calibrated on a random batch then perturbed; input N(0,1)",
            "mindspore": ms.__version__,
        }
        U.write_json(os.path.join(d, "case.json"), meta)
        print(f"ZOO {name} b{b}: {len(inv['kernels'])} primitives, {lat_ms:.1f} ms, onnx={onnx.get('ok')}", flush=True)
    return 0


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def write_report(status: dict):
    root = zoo_dir()
    rows = []
    prims_all = {}
    names = sorted(set(os.listdir(root)) if os.path.isdir(root) else set())
    for name in names:
        metas = {}
        for b in (1, 8):
            p = os.path.join(root, name, f"b{b}", "case.json")
            if os.path.exists(p):
                with open(p) as f:
                    metas[b] = json.load(f)
        if not metas:
            continue
        m = metas.get(1) or metas.get(8)
        for t in m["primitives"]:
            prims_all.setdefault(t, []).append(name)
        lat = " / ".join(f"{metas[b]['mindspore_latency_ms']['median']:.1f}" if b in metas else "-" for b in (1, 8))
        onnx = m["onnx_export"]
        onnx_s = (
            "ok"
            if onnx.get("ok")
            else (
                "not tried" if not onnx.get("attempted") else "FAIL: " + onnx.get("error", "")[:120].replace("|", "/")
            )
        )
        st = status.get(name, "ok")
        exp = (
            "ok"
            if st == "ok" and len(metas) == 2
            else "partial: " + ", ".join(f"b{b} ok" for b in metas) + "; " + st.replace("|", "/")[:120]
        )
        rows.append(
            f"| {name} | {exp} | {m['inputs'][0]['shape'][2]} | {m['parameters']:,} | {m['mindir_bytes'] / 1e6:.1f} MB | "
            f"{lat} | {onnx_s} | {', '.join(m['primitives'])} |"
        )
    for name, st in sorted(status.items()):
        if name not in names or not os.path.exists(os.path.join(root, name, "b1", "case.json")):
            rows.append(f"| {name} | FAIL: {st.replace('|', '/')[:200]} | | | | | | |")
    lines = [
        "# Zoo networks exported with MindSpore 2.10.0 (CPU, graph mode)",
        "",
        "Generated by `tools/make_zoo.py` into `$MINDINFER_ZOO_DIR` (default `~/.cache/mindinfer/zoo`; "
        "not in the repository). Latency: median of MindSpore's own `nn.GraphCell(mindspore.load(...))` "
        "inference, 2 CPU threads, batch 1 / batch 8, on a 2-core machine.",
        "",
        "| network | export | input | params | mindir | MindSpore ms b1 / b8 | onnx export | primitives |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ] + rows
    lines += ["", "Notes:", "",
              "- MindSpore 2.10's CPU Conv2D for dense (non-depthwise) 3x3 convolutions is very slow on this machine "
              "(about 0.3 s for one 64->64 3x3 conv on 56x56, below 1 GFLOP/s, while a 512x512 MatMul runs at ~200 "
              "GFLOP/s), so conv-heavy networks (ResNets, RepVGG, GoogLeNet, DenseNet) show latencies of seconds. "
              "Depthwise/pointwise and MatMul-based networks are much faster. Latency timing is capped at ~25 s per "
              "batch size (at least 3 loops); see `mindspore_latency_ms.all` in each case.json.",
              "- ONNX export failures are MindSpore's ONNX converter lacking an op (InplaceAddExt from mindcv's "
              "`out += identity`, HSwish, Unstack, ...).",
              "- pvt_tiny: mindcv 0.3.0's constructor fails under MindSpore 2.10 (`ops.zeros((1, num_patches, C), "
              "float16)` -> SystemError from pyboost_zeros), before any export; pvt_v2_b0 is used as the nearest family "
              "member.",
              "- Each b<N>/case.json also holds output statistics, parameter count, the MindSpore reload check and "
              "timings."]
    lines += ["", "## Distinct primitives across the zoo", "", "| op_type | networks |", "| --- | --- |"]
    for t in sorted(prims_all):
        lines.append(f"| {t} | {len(prims_all[t])}: {', '.join(prims_all[t])} |")
    with open(REPORT, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nets", nargs="*")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per network")
    ap.add_argument("--batches", type=int, nargs="*", default=[1, 8])
    ap.add_argument("--no-onnx", action="store_true")
    ap.add_argument("--loops", type=int, default=10)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    if args.worker:
        sys.exit(worker(args.worker, args.batches, not args.no_onnx, args.loops))
    status_path = os.path.join(zoo_dir(), "status.json")
    os.makedirs(zoo_dir(), exist_ok=True)
    status = json.load(open(status_path)) if os.path.exists(status_path) else {}
    if not args.report_only:
        for name in args.nets or DEFAULT:
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--worker",
                name,
                "--loops",
                str(args.loops),
                "--batches",
                *map(str, args.batches),
            ] + (["--no-onnx"] if args.no_onnx else [])
            env = dict(os.environ, OMP_NUM_THREADS="2", GLOG_v="3")
            t0 = time.time()
            try:
                p = subprocess.run(cmd, cwd=zoo_dir(), env=env, capture_output=True, text=True, timeout=args.timeout)
                lines = [l for l in (p.stdout + p.stderr).splitlines() if l.startswith("ZOO ")]
                if p.returncode == 0:
                    status[name] = "ok"
                else:
                    err = [l for l in p.stderr.splitlines() if "Error" in l and "total_instance_count" not in l]
                    status[name] = f"rc {p.returncode}: {err[-1] if err else p.stderr[-300:]}"
                print("\n".join(lines) or "", flush=True)
            except subprocess.TimeoutExpired:
                status[name] = f"timeout after {args.timeout}s (skipped)"
            print(f"{name}: {status[name]} ({time.time() - t0:.0f}s)", flush=True)
            with open(status_path, "w") as f:
                json.dump(status, f, indent=1)
    write_report(status)


if __name__ == "__main__":
    main()
