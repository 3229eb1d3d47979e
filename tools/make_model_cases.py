"""Make small committed model-tier conformance cases from mindcv networks with real MindSpore.

    /work/msvenv/bin/python tools/make_model_cases.py [--only NAME ...]

Writes `conformance/mindinfer_conformance/cases/model/<name>/` in the op-case layout (`model.mindir`,
`input_0.npy`, `output_0.npy`, `case.json`; tier "model", rtol 1e-3, atol 1e-4). The networks are mindcv
definitions at reduced width / input size with a 10-class head so that the files stay small; BatchNorm
statistics are calibrated on a random batch and then perturbed (see make_zoo.py).
MindSpore is a data-making tool only, never a dependency of mindinfer.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import _msutil as U  # noqa: E402
import make_zoo  # noqa: E402

import mindspore as ms  # noqa: E402
from mindspore import nn, ops  # noqa: E402
import mindcv  # noqa: E402

ms.set_context(mode=ms.GRAPH_MODE)
ms.set_device("CPU")

OUT = os.path.join(REPO, "conformance", "mindinfer_conformance", "cases", "model")

# name -> (mindcv model, input size, batch, note)
MODELS = {
    "mobilenet_v2_035_96_c10": (
        "mobilenet_v2_035_96",
        96,
        2,
        "mindcv mobilenet_v2_035_96, 10 classes: Conv2D/depthwise, BatchNorm, ReLU6, residual Add, global pool, Dense",
    ),
    "mobilenet_v3_small_075_c10": (
        "mobilenet_v3_small_075",
        96,
        2,
        "mindcv mobilenet_v3_small_075, 10 classes: HSwish, HSigmoid, squeeze-excite, depthwise conv, BatchNorm",
    ),
    "shufflenet_v2_x0_5_c10": (
        "shufflenet_v2_x0_5",
        64,
        2,
        "mindcv shufflenet_v2_x0_5, 10 classes: channel shuffle (Reshape/Transpose), Split/slicing, Concat, MaxPool",
    ),
    "shufflenet_v1_g3_05_c10": (
        "shufflenet_v1_g3_05",
        64,
        2,
        "mindcv shufflenet_v1_g3_05, 10 classes: grouped 1x1 convolutions, channel shuffle of 3 groups "
        "(Reshape/Transpose/Reshape), depthwise conv, AvgPool shortcut, Concat",
    ),
    "mobilevit_xx_small_c10": ("mobilevit_xx_small", 64, 1,
                               "mindcv mobilevit_xx_small, 10 classes: convolutions plus transformer blocks (LayerNorm, "
                               "attention BatchMatMul/Softmax, SiLU), unfold/fold via Reshape/Transpose"),
}


def make(name):
    model, hw, batch, note = MODELS[name]
    seed = U.seed_for(name) % 100000
    ms.set_seed(seed)
    np.random.seed(seed)
    rng = np.random.default_rng(seed)
    net = mindcv.create_model(model, pretrained=False, num_classes=10)
    net.set_train(False)
    make_zoo.calibrate_and_perturb_bn(net, ms, nn, ops, np, rng, rng.normal(0, 1, (4, 3, hw, hw)).astype(np.float32))
    x = rng.normal(0.0, 1.0, (batch, 3, hw, hw)).astype(np.float32)
    outs = U.flatten_outputs(net(ms.Tensor(x)))
    tmpd = tempfile.mkdtemp(prefix="modelcase_")
    ms.export(net, ms.Tensor(x), file_name=os.path.join(tmpd, "model"), file_format="MINDIR")
    src = os.path.join(tmpd, "model.mindir")
    inv = U.inventory(src)
    re = U.flatten_outputs(nn.GraphCell(ms.load(src))(ms.Tensor(x)))
    reload_ok = all(np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(re, outs))
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    shutil.move(src, os.path.join(d, "model.mindir"))
    os.chmod(os.path.join(d, "model.mindir"), 0o644)
    shutil.rmtree(tmpd, ignore_errors=True)
    np.save(os.path.join(d, "input_0.npy"), x)
    for i, o in enumerate(outs):
        np.save(os.path.join(d, f"output_{i}.npy"), o)
    meta = {
        "name": name,
        "tier": "model",
        "dtype": "float32",
        "rtol": 1e-3,
        "atol": 1e-4,
        "criterion": "network",  # compared by the whole-network criterion (conformance compare.NETWORK)
        **U.requirement_fields(inv, sorted(inv["dtypes"] | {"float32"})),
        "inputs": [{"shape": list(x.shape), "dtype": "float32"}],
        "outputs": [{"shape": list(o.shape), "dtype": str(o.dtype), "rtol": 1e-3, "atol": 1e-4} for o in outs],
        "parameters": int(sum(int(np.prod(p.shape)) for p in net.get_parameters())),
        "note": note + f"; mindcv {mindcv.__version__} create_model('{model}', pretrained=False, num_classes=10), "
        f"input {hw}x{hw}, batch {batch}, BatchNorm stats calibrated then perturbed",
        "mindspore_reload_check": "ok" if reload_ok else "MISMATCH",
        "mindspore": ms.__version__,
    }
    U.write_json(os.path.join(d, "case.json"), meta)
    print(f"OK {name}: {U.dir_size(d)} bytes, {meta['parameters']} params, {', '.join(inv['kernels'])}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    os.chdir(tempfile.mkdtemp(prefix="ms_modelcases_"))
    for name in args.only or MODELS:
        make(name)


if __name__ == "__main__":
    main()
