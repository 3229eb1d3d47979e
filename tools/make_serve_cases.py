"""Make the serving tests' and benchmark's models: mobilenet_v2 exported by real MindSpore with a
dynamic batch dimension, so that `mindinfer serve` batches it.

    /work/msvenv/bin/python tools/make_serve_cases.py [--full]

Without ``--full``: `tests/data/serve/mobilenet_v2_035_96_dyn/` (committed, the serving tests' model):
mindcv `mobilenet_v2_035_96`, 10 classes, the conformance case mobilenet_v2_035_96_c10's network
(same seed, BatchNorm statistics calibrated then perturbed); only the export differs.

With ``--full``: `~/.cache/mindinfer/serve/mobilenet_v2_100_dyn/` (``MINDINFER_SERVE_BENCH_DIR``;
14 MB, not committed), the benchmark's model: mindcv `mobilenet_v2_100`, 1000 classes, 224x224,
the network the README's speed figures are about.

Each folder holds `model.mindir` (input `[-1,3,H,W]`), `input_0.npy` (6 samples), `output_0.npy`
(MindSpore's output for all 6 at once) and `case.json`. MindSpore is a data-making tool only,
never a dependency of mindinfer.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import _msutil as U
import make_zoo
import mindcv
import mindspore as ms
from mindspore import nn, ops

ms.set_context(mode=ms.GRAPH_MODE)
ms.set_device("CPU")

#: (mindcv name, classes, image size, seed name, where the case goes)
SMALL = ("mobilenet_v2_035_96", 10, 96, "mobilenet_v2_035_96_c10", os.path.join(REPO, "tests", "data", "serve"))
FULL = (
    "mobilenet_v2_100",
    1000,
    224,
    "mobilenet_v2_100_serve",
    os.path.expanduser(os.environ.get("MINDINFER_SERVE_BENCH_DIR", "~/.cache/mindinfer/serve")),
)


def main(full: bool) -> None:
    model, classes, size, seed_name, where = FULL if full else SMALL
    NAME = f"{model}_dyn"
    OUT = os.path.join(where, NAME)
    seed = U.seed_for(seed_name) % 100000  # the small one: the conformance case's network
    ms.set_seed(seed)
    np.random.seed(seed)
    rng = np.random.default_rng(seed)
    net = mindcv.create_model(model, pretrained=False, num_classes=classes)
    net.set_train(False)
    calib = rng.normal(0, 1, (4, 3, size, size)).astype(np.float32)
    make_zoo.calibrate_and_perturb_bn(net, ms, nn, ops, np, rng, calib)
    x = np.random.default_rng(seed + 1).normal(0.0, 1.0, (6, 3, size, size)).astype(np.float32)
    tmpd = tempfile.mkdtemp(prefix="servecase_")
    dyn = ms.Tensor(shape=[None, 3, size, size], dtype=ms.float32)
    ms.export(net, dyn, file_name=os.path.join(tmpd, "model"), file_format="MINDIR")
    src = os.path.join(tmpd, "model.mindir")
    # MindSpore's own output, from the exported file itself.
    (out,) = U.flatten_outputs(nn.GraphCell(ms.load(src))(ms.Tensor(x)))
    direct = U.flatten_outputs(net(ms.Tensor(x)))[0]
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    shutil.move(src, os.path.join(OUT, "model.mindir"))
    os.chmod(os.path.join(OUT, "model.mindir"), 0o644)
    shutil.rmtree(tmpd, ignore_errors=True)
    np.save(os.path.join(OUT, "input_0.npy"), x)
    np.save(os.path.join(OUT, "output_0.npy"), out)
    U.write_json(
        os.path.join(OUT, "case.json"),
        {
            "name": NAME,
            "note": f"mindcv {model}, {classes} classes (seed of {seed_name}), exported with input "
            f"Tensor(shape=[None, 3, {size}, {size}]); output_0 is nn.GraphCell(mindspore.load(file)) "
            "on all 6 samples at once",
            "inputs": [{"shape": [-1, 3, size, size], "dtype": "float32"}],
            "outputs": [{"shape": [-1, classes], "dtype": "float32"}],
            "graphcell_vs_network_max_abs": float(np.max(np.abs(out - direct))),
            "mindspore": ms.__version__,
        },
    )
    print(f"OK {NAME}: {U.dir_size(OUT)} bytes", flush=True)


if __name__ == "__main__":
    os.chdir(tempfile.mkdtemp(prefix="ms_servecases_"))
    main("--full" in sys.argv[1:])
