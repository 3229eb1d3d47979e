"""Make the checkpoint and encrypted-MindIR test data with real MindSpore.

    /work/msvenv/bin/python tools/make_checkpoint_cases.py

Writes `tests/data/checkpoints/` (a few tens of KB):

* `net.mindir`: a small Conv/BatchNorm/Dense network with weights A (random, BatchNorm statistics included);
  `input_0.npy`; `expected_mindir.npy` = MindSpore's output for that file (GraphCell over `ms.load`).
* Encrypted exports of the same network: `net_gcm.mindir` (AES-GCM, key `gcm.key`, 16 bytes),
  `net_cbc.mindir` (AES-CBC, key `cbc.key`, 32 bytes), and the split layout (`split_gcm/net_graph.mindir` +
  `split_gcm/net_variables/data_0`, and `split_cbc/...`), forced by lowering MindSpore's own 1 GB
  threshold `TOTAL_SAVE` so that its real split writer runs on a small network. `expected_<case>.npy` =
  MindSpore's output after `ms.load(file, dec_key=..., dec_mode=...)`.
* Checkpoints of weights B (other values, other BatchNorm statistics): `weights.ckpt`, `weights.safetensors`,
  `weights_crc.ckpt` (crc_check=True), `train.ckpt` (a TrainOneStepCell with Momentum around the network
  under a `backbone.` prefix, after one step: prefixed names plus `moments.*`, `learning_rate`, ...),
  `partial.ckpt` (two parameters missing), `sliced.ckpt` (MindSpore's writer with its slice limit lowered to
  1 KB: parameters in consecutive slices, as it writes those over 512 MB). `expected_<name>.npy` = MindSpore's output of the network built
  with weights A, after `load_param_into_net(net, load_checkpoint(file))` (strict_load=False for partial).
* `branch.mindir`: a network with an `if` over its weights (function graphs), `branch_weights.ckpt`, and
  MindSpore's outputs with and without it (`expected_branch*.npy`).
* Bad variants (`bad/`): truncated and tampered copies of each encrypted file and each checkpoint, a
  checkpoint of a wider network (shape mismatch), a checkpoint with CRC of tampered content.

With `--bench DIR` it instead writes benchmark files (not committed) for benchmarks/bench_checkpoints.py: a
mindcv network (default resnet18) exported plain, AES-GCM, AES-CBC and in the split layout (AES-GCM),
checkpoints of other weights in both formats, MindSpore's own load times for each (`bench.json`) and its
output after loading the checkpoint.

MindSpore is a data-making tool only, never a dependency of mindinfer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(REPO, "tests", "data", "checkpoints")

import mindspore as ms
import mindspore.train.serialization as ser
from mindspore import nn

ms.set_context(mode=ms.GRAPH_MODE)
ms.set_device("CPU")


class Net(nn.Cell):
    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, pad_mode="same", has_bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, pad_mode="pad", padding=1, has_bias=True)
        self.bn2 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.fc = nn.Dense(8, classes)

    def construct(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.fc(y.mean(axis=(2, 3)))


class Backbone(nn.Cell):
    """A training-time wrapper: parameter names gain the prefix `backbone.`."""

    def __init__(self, net: nn.Cell) -> None:
        super().__init__()
        self.backbone = net

    def construct(self, x):
        return self.backbone(x)


class BranchNet(nn.Cell):
    """Control flow over parameters: the branch taken depends on the input, both read weights."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, pad_mode="same", has_bias=True)
        self.bn = nn.BatchNorm2d(4)
        self.up = nn.Dense(4, 5)
        self.down = nn.Dense(4, 5)

    def construct(self, x):
        y = self.bn(self.conv(x)).mean(axis=(2, 3))
        if y.sum() > 0:
            out = self.up(y)
        else:
            out = self.down(y) * 2.0
        return out


def randomize(net: nn.Cell, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for p in net.get_parameters():
        shape = p.shape
        if "moving_variance" in p.name:
            value = rng.uniform(0.3, 2.5, shape)
        elif "moving_mean" in p.name:
            value = rng.normal(0.0, 0.6, shape)
        elif "gamma" in p.name:
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.4, shape)
        p.set_data(ms.Tensor(value.astype(np.float32)))


def net_a() -> Net:
    net = Net()
    randomize(net, 1)
    net.set_train(False)
    return net


def run(net: nn.Cell, x: np.ndarray) -> np.ndarray:
    return net(ms.Tensor(x)).asnumpy()


def run_file(path: str, x: np.ndarray, **kw) -> np.ndarray:
    return nn.GraphCell(ms.load(path, **kw))(ms.Tensor(x)).asnumpy()


def save(name: str, arr: np.ndarray) -> None:
    np.save(os.path.join(OUT, name), arr)


def damage(src: str, dst: str, *, truncate: int = 0, flip: int | None = None) -> None:
    with open(src, "rb") as f:
        data = bytearray(f.read())
    if flip is not None:
        data[flip] ^= 0x01
    if truncate:
        data = data[:-truncate]
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "wb") as f:
        f.write(bytes(data))


def copy_tree(src: str, dst: str) -> None:
    shutil.copytree(src, dst)
    for root, _, files in os.walk(dst):
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)


def main() -> int:
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(os.path.join(OUT, "bad"))
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 12, 12)).astype(np.float32)
    save("input_0.npy", x)
    keys = {
        "gcm": rng.integers(0, 256, 16, dtype=np.uint8).tobytes(),
        "cbc": rng.integers(0, 256, 32, dtype=np.uint8).tobytes(),
    }
    for k, v in keys.items():
        with open(os.path.join(OUT, f"{k}.key"), "wb") as f:
            f.write(v)
    modes = {"gcm": "AES-GCM", "cbc": "AES-CBC"}
    cases: dict[str, dict] = {}

    # -- the MindIR, plain and encrypted ------------------------------------------------------------
    net = net_a()
    ms.export(net, ms.Tensor(x), file_name=os.path.join(OUT, "net"), file_format="MINDIR")
    save("expected_mindir.npy", run_file(os.path.join(OUT, "net.mindir"), x))
    cases["mindir"] = {"model": "net.mindir"}
    for k, mode in modes.items():
        path = os.path.join(OUT, f"net_{k}.mindir")
        ms.export(net, ms.Tensor(x), file_name=path[:-7], file_format="MINDIR", enc_key=keys[k], enc_mode=mode)
        save(f"expected_{k}.npy", run_file(path, x, dec_key=keys[k], dec_mode=mode))
        cases[k] = {"model": f"net_{k}.mindir", "key": f"{k}.key", "mode": mode}
    saved_limit = ser.TOTAL_SAVE
    ser.TOTAL_SAVE = 0  # MindSpore's own split writer, on a network far below its 1 GB threshold
    try:
        for k, mode in modes.items():
            os.makedirs(os.path.join(OUT, f"split_{k}"))
            stem = os.path.join(OUT, f"split_{k}", "net")
            ms.export(net, ms.Tensor(x), file_name=stem, file_format="MINDIR", enc_key=keys[k], enc_mode=mode)
            save(f"expected_split_{k}.npy", run_file(stem + "_graph.mindir", x, dec_key=keys[k], dec_mode=mode))
            cases[f"split_{k}"] = {"model": f"split_{k}/net_graph.mindir", "key": f"{k}.key", "mode": mode}
    finally:
        ser.TOTAL_SAVE = saved_limit

    # -- checkpoints of other weights ---------------------------------------------------------------
    b = Net()
    randomize(b, 2)
    ms.save_checkpoint(b, os.path.join(OUT, "weights.ckpt"))
    ms.save_checkpoint(b, os.path.join(OUT, "weights.safetensors"), format="safetensors")
    ms.save_checkpoint(b, os.path.join(OUT, "weights_crc.ckpt"), crc_check=True)
    ms.save_checkpoint(b, os.path.join(OUT, "weights_crc.safetensors"), format="safetensors", crc_check=True)
    entries = [
        {"name": p.name, "data": p.data} for p in b.get_parameters() if p.name not in ("fc.bias", "bn2.moving_variance")
    ]
    ms.save_checkpoint(entries, os.path.join(OUT, "partial.ckpt"))
    # MindSpore writes a parameter over SLICE_SIZE KB (512 MB) as consecutive slices; its own writer with a
    # 1 KB limit makes them here (conv2.weight, 2304 bytes: three slices).
    saved_slice, ser.SLICE_SIZE = ser.SLICE_SIZE, 1
    try:
        ms.save_checkpoint(b, os.path.join(OUT, "sliced.ckpt"))
    finally:
        ser.SLICE_SIZE = saved_slice
    wrapped = Backbone(Net())
    randomize(wrapped, 3)
    train = nn.TrainOneStepCell(
        nn.WithLossCell(wrapped, nn.MSELoss()), nn.Momentum(wrapped.trainable_params(), 0.01, 0.9)
    )
    train.set_train(True)
    train(ms.Tensor(x), ms.Tensor(rng.standard_normal((2, 5)).astype(np.float32)))
    ms.save_checkpoint(train, os.path.join(OUT, "train.ckpt"))
    wide = Net(classes=7)
    ms.save_checkpoint(wide, os.path.join(OUT, "bad", "wide.ckpt"))

    # Control flow: the checkpoint's weights must reach the branches (function graphs) too.
    cf_a, cf_b = BranchNet(), BranchNet()
    randomize(cf_a, 4)
    randomize(cf_b, 5)
    cf_a.set_train(False)
    ms.export(cf_a, ms.Tensor(x), file_name=os.path.join(OUT, "branch"), file_format="MINDIR")
    ms.save_checkpoint(cf_b, os.path.join(OUT, "branch_weights.ckpt"))
    fresh = BranchNet()
    randomize(fresh, 4)
    fresh.set_train(False)
    not_loaded, _ = ms.load_param_into_net(fresh, ms.load_checkpoint(os.path.join(OUT, "branch_weights.ckpt")))
    assert not not_loaded, not_loaded
    save("expected_branch.npy", run(fresh, x))
    save("expected_branch_mindir.npy", run_file(os.path.join(OUT, "branch.mindir"), x))
    cases["branch"] = {"model": "branch.mindir", "checkpoint": "branch_weights.ckpt", "strict": True}
    cases["branch_mindir"] = {"model": "branch.mindir"}

    for name, file, strict in [
        ("ckpt", "weights.ckpt", True),
        ("safetensors", "weights.safetensors", True),
        ("crc", "weights_crc.ckpt", True),
        ("crc_safetensors", "weights_crc.safetensors", True),
        ("sliced", "sliced.ckpt", True),
        ("train", "train.ckpt", True),
        ("partial", "partial.ckpt", False),
    ]:
        fresh = net_a()
        fmt = "safetensors" if file.endswith(".safetensors") else "ckpt"
        params = ms.load_checkpoint(os.path.join(OUT, file), format=fmt)
        not_loaded, _ = ms.load_param_into_net(fresh, params, strict_load=False)
        if strict and not_loaded:
            raise SystemExit(f"{file}: MindSpore left {not_loaded} unloaded")
        save(f"expected_{name}.npy", run(fresh, x))
        cases[name] = {"model": "net.mindir", "checkpoint": file, "strict": strict, "mindspore_not_loaded": not_loaded}

    # -- bad variants -------------------------------------------------------------------------------
    bad = os.path.join(OUT, "bad")
    for k in modes:
        src = os.path.join(OUT, f"net_{k}.mindir")
        size = os.path.getsize(src)
        damage(src, os.path.join(bad, f"net_{k}_truncated.mindir"), truncate=100)
        # GCM: a flipped ciphertext byte fails authentication. CBC has none: the flip is in the last
        # padding byte's source (second-to-last cipher block), so that the padding check catches it.
        damage(src, os.path.join(bad, f"net_{k}_tampered.mindir"), flip=size // 2 if k == "gcm" else size - 17)
        split = os.path.join(bad, f"split_{k}_tampered")
        copy_tree(os.path.join(OUT, f"split_{k}"), split)
        data = os.path.join(split, "net_variables", "data_0")
        damage(data, data, flip=os.path.getsize(data) // 2 if k == "gcm" else os.path.getsize(data) - 17)
        split = os.path.join(bad, f"split_{k}_truncated")
        copy_tree(os.path.join(OUT, f"split_{k}"), split)
        data = os.path.join(split, "net_variables", "data_0")
        damage(data, data, truncate=40)
    damage(os.path.join(OUT, "weights.ckpt"), os.path.join(bad, "weights_truncated.ckpt"), truncate=50)
    damage(os.path.join(OUT, "weights.safetensors"), os.path.join(bad, "weights_truncated.safetensors"), truncate=50)
    damage(os.path.join(OUT, "weights.safetensors"), os.path.join(bad, "weights_header.safetensors"), flip=12)
    size = os.path.getsize(os.path.join(OUT, "weights_crc.ckpt"))
    damage(os.path.join(OUT, "weights_crc.ckpt"), os.path.join(bad, "weights_crc_tampered.ckpt"), flip=size - 40)
    size = os.path.getsize(os.path.join(OUT, "weights_crc.safetensors"))
    damage(
        os.path.join(OUT, "weights_crc.safetensors"),
        os.path.join(bad, "weights_crc_tampered.safetensors"),
        flip=size - 3,
    )
    for root, _, files in os.walk(OUT):
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"mindspore": ms.__version__, "cases": cases}, f, indent=1)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT}: {len(cases)} cases, {total} bytes")
    return 0


def timed(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_net(mindcv, net_name: str, seed: int) -> nn.Cell:
    """mindcv's own initialisation (seeded) with BatchNorm statistics and affine parameters randomized."""
    ms.set_seed(seed)
    net = mindcv.create_model(net_name, num_classes=1000)
    rng = np.random.default_rng(seed)
    for p in net.get_parameters():
        if "moving_variance" in p.name:
            p.set_data(ms.Tensor(rng.uniform(0.5, 2.0, p.shape).astype(np.float32)))
        elif "moving_mean" in p.name:
            p.set_data(ms.Tensor(rng.normal(0.0, 0.3, p.shape).astype(np.float32)))
        elif "gamma" in p.name:
            p.set_data(ms.Tensor(rng.uniform(0.5, 1.5, p.shape).astype(np.float32)))
    net.set_train(False)
    return net


def bench(out: str, net_name: str) -> int:
    import mindcv

    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    np.save(os.path.join(out, "input_0.npy"), x)
    keys = {
        "gcm": rng.integers(0, 256, 32, dtype=np.uint8).tobytes(),
        "cbc": rng.integers(0, 256, 32, dtype=np.uint8).tobytes(),
    }
    for k, v in keys.items():
        with open(os.path.join(out, f"{k}.key"), "wb") as f:
            f.write(v)
    net = bench_net(mindcv, net_name, 1)
    files = {"plain": ("net.mindir", {})}
    ms.export(net, ms.Tensor(x), file_name=os.path.join(out, "net"), file_format="MINDIR")
    for k, mode in {"gcm": "AES-GCM", "cbc": "AES-CBC"}.items():
        ms.export(
            net,
            ms.Tensor(x),
            file_name=os.path.join(out, f"net_{k}"),
            file_format="MINDIR",
            enc_key=keys[k],
            enc_mode=mode,
        )
        files[k] = (f"net_{k}.mindir", {"dec_key": keys[k], "dec_mode": mode})
    saved, ser.TOTAL_SAVE = ser.TOTAL_SAVE, 0
    try:
        os.makedirs(os.path.join(out, "split_gcm"), exist_ok=True)
        ms.export(
            net,
            ms.Tensor(x),
            file_name=os.path.join(out, "split_gcm", "net"),
            file_format="MINDIR",
            enc_key=keys["gcm"],
            enc_mode="AES-GCM",
        )
    finally:
        ser.TOTAL_SAVE = saved
    files["split_gcm"] = ("split_gcm/net_graph.mindir", {"dec_key": keys["gcm"], "dec_mode": "AES-GCM"})
    other = bench_net(mindcv, net_name, 2)
    ms.save_checkpoint(other, os.path.join(out, "weights.ckpt"))
    ms.save_checkpoint(other, os.path.join(out, "weights.safetensors"), format="safetensors")
    record: dict = {"net": net_name, "mindspore": ms.__version__, "load_s": {}, "checkpoint_s": {}}
    for name, (file, kw) in files.items():
        record["load_s"][name] = timed(lambda file=file, kw=kw: ms.load(os.path.join(out, file), **kw))
    for name, fmt in (("weights.ckpt", "ckpt"), ("weights.safetensors", "safetensors")):
        record["checkpoint_s"][name] = timed(
            lambda name=name, fmt=fmt: ms.load_param_into_net(
                net, ms.load_checkpoint(os.path.join(out, name), format=fmt)
            )
        )
    fresh = bench_net(mindcv, net_name, 1)
    ms.load_param_into_net(fresh, ms.load_checkpoint(os.path.join(out, "weights.ckpt")))
    np.save(os.path.join(out, "expected_ckpt.npy"), run(fresh, x))
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", metavar="DIR", help="write benchmark files for benchmarks/bench_checkpoints.py here")
    ap.add_argument("--net", default="resnet18", help="mindcv network for --bench")
    a = ap.parse_args()
    sys.exit(bench(a.bench, a.net) if a.bench else main())
