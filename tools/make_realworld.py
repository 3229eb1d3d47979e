"""Export networks from MindSpore's own model libraries into the local real-world cache (never into the
repository): detectors (mindyolo), OCR (mindocr: DBNet, SVTR with its TPS rectification, CRNN),
transformers (mindnlp 0.3.1's graph-mode BERT, RoBERTa, GPT-2) and audio (mindaudio).

    /work/msvenv/bin/python tools/make_realworld.py [NAME ...] [--timeout S] [--list]

Needs, next to MindSpore 2.10 and mindcv in the data-making environment (never mindinfer's):
``pip install --no-deps mindyolo mindocr mindnlp==0.3.1 mindaudio`` and what they import
(``opencv-python-headless wget requests tqdm regex safetensors ml_dtypes addict shapely pyclipper lmdb
huggingface_hub``). mindyolo's model configs are not in its package: the few used here are written
below as data, copied from mindspore-lab/mindyolo's ``configs/``. Imports these libraries make for
training or visualisation only (matplotlib, sentencepiece, MindSpore 1.x's parallel transformer) are
replaced by placeholders; mindnlp 0.3.1 is imported package by package, past its ``injection`` module
(it patches MindSpore 2.2's internals, which 2.10 no longer has).

For each network, with a fixed seed and random weights, in its own subprocess with a time limit:

* small inputs (64x64 images, 8 tokens, 1 s of audio features);
* BatchNorm statistics from a training-mode forward pass on the case's own input (momentum 1), then
  perturbed, gamma/beta randomised (so a folding error shows); eval mode;
* a check that every output changes when the input does (random heads often output little more than
  their biases; such an output would "match" whatever the backbone computed): the case is refused
  when an output moves by less than 1e-3 of its magnitude; and one that no output is mostly exactly 0
  or 1 (a saturated sigmoid): score layers listed in ``TEMPER`` are scaled down to keep them O(1);
* ``$MINDINFER_REALWORLD_DIR/<name>/b1/`` (default ``~/.cache/mindinfer/realworld``) gets
  ``model.mindir``, ``input_N.npy``, ``output_N.npy`` (MindSpore's outputs) and ``case.json`` in the
  zoo's format, with ``"criterion": "network"`` and the sensitivity measured.

MindSpore is a data-making tool only, never a dependency of mindinfer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import types
from typing import ClassVar

HERE = os.path.dirname(os.path.abspath(__file__))


def out_dir() -> str:
    return os.path.expanduser(os.environ.get("MINDINFER_REALWORLD_DIR", "~/.cache/mindinfer/realworld"))


# ---------------------------------------------------------------------------------------------
# mindyolo configs (from mindspore-lab/mindyolo configs/<family>/<name>.yaml; data, not code)
# ---------------------------------------------------------------------------------------------
_YOLOV8_BACKBONE = [
    [-1, 1, "ConvNormAct", [64, 3, 2]],
    [-1, 1, "ConvNormAct", [128, 3, 2]],
    [-1, 3, "C2f", [128, True]],
    [-1, 1, "ConvNormAct", [256, 3, 2]],
    [-1, 6, "C2f", [256, True]],
    [-1, 1, "ConvNormAct", [512, 3, 2]],
    [-1, 6, "C2f", [512, True]],
    [-1, 1, "ConvNormAct", [1024, 3, 2]],
    [-1, 3, "C2f", [1024, True]],
    [-1, 1, "SPPF", [1024, 5]],
]
YOLO_CONFIGS = {
    "yolov8n": {
        "model_name": "yolov8",
        "nc": 80,
        "reg_max": 16,
        "depth_multiple": 0.33,
        "width_multiple": 0.25,
        "stride": [8, 16, 32],
        "backbone": _YOLOV8_BACKBONE,
        "head": [
            [-1, 1, "Upsample", [None, 2, "nearest"]],
            [[-1, 6], 1, "Concat", [1]],
            [-1, 3, "C2f", [512]],
            [-1, 1, "Upsample", [None, 2, "nearest"]],
            [[-1, 4], 1, "Concat", [1]],
            [-1, 3, "C2f", [256]],
            [-1, 1, "ConvNormAct", [256, 3, 2]],
            [[-1, 12], 1, "Concat", [1]],
            [-1, 3, "C2f", [512]],
            [-1, 1, "ConvNormAct", [512, 3, 2]],
            [[-1, 9], 1, "Concat", [1]],
            [-1, 3, "C2f", [1024]],
            [[15, 18, 21], 1, "YOLOv8Head", ["nc", "reg_max", "stride"]],
        ],
    },
    "yolov10n": {
        "model_name": "yolov10",
        "nc": 80,
        "reg_max": 16,
        "depth_multiple": 0.33,
        "width_multiple": 0.25,
        "max_channels": 1024,
        "stride": [8, 16, 32],
        "backbone": [
            [-1, 1, "ConvNormAct", [64, 3, 2]],
            [-1, 1, "ConvNormAct", [128, 3, 2]],
            [-1, 3, "C2f", [128, True]],
            [-1, 1, "ConvNormAct", [256, 3, 2]],
            [-1, 6, "C2f", [256, True]],
            [-1, 1, "SCDown", [512, 3, 2]],
            [-1, 6, "C2f", [512, True]],
            [-1, 1, "SCDown", [1024, 3, 2]],
            [-1, 3, "C2f", [1024, True]],
            [-1, 1, "SPPF", [1024, 5]],
            [-1, 1, "PSA", [1024]],
        ],
        "head": [
            [-1, 1, "Upsample", [None, 2, "nearest"]],
            [[-1, 6], 1, "Concat", [1]],
            [-1, 3, "C2f", [512]],
            [-1, 1, "Upsample", [None, 2, "nearest"]],
            [[-1, 4], 1, "Concat", [1]],
            [-1, 3, "C2f", [256]],
            [-1, 1, "ConvNormAct", [256, 3, 2]],
            [[-1, 13], 1, "Concat", [1]],
            [-1, 3, "C2f", [512]],
            [-1, 1, "SCDown", [512, 3, 2]],
            [[-1, 10], 1, "Concat", [1]],
            [-1, 3, "C2fCIB", [1024, True, True]],
            [[16, 19, 22], 1, "YOLOv10Head", ["nc", "reg_max", "stride"]],
        ],
    },
    "yolov5n": {
        "model_name": "yolov5",
        "nc": 80,
        "depth_multiple": 0.33,
        "width_multiple": 0.25,
        "stride": [8, 16, 32],
        "anchors": [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]],
        "backbone": [
            [-1, 1, "ConvNormAct", [64, 6, 2, 2]],
            [-1, 1, "ConvNormAct", [128, 3, 2]],
            [-1, 3, "C3", [128]],
            [-1, 1, "ConvNormAct", [256, 3, 2]],
            [-1, 6, "C3", [256]],
            [-1, 1, "ConvNormAct", [512, 3, 2]],
            [-1, 9, "C3", [512]],
            [-1, 1, "ConvNormAct", [1024, 3, 2]],
            [-1, 3, "C3", [1024]],
            [-1, 1, "SPPF", [1024, 5]],
        ],
        "head": [
            [-1, 1, "ConvNormAct", [512, 1, 1]],
            [-1, 1, "Upsample", [None, 2, "nearest"]],
            [[-1, 6], 1, "Concat", [1]],
            [-1, 3, "C3", [512, False]],
            [-1, 1, "ConvNormAct", [256, 1, 1]],
            [-1, 1, "Upsample", [None, 2, "nearest"]],
            [[-1, 4], 1, "Concat", [1]],
            [-1, 3, "C3", [256, False]],
            [-1, 1, "ConvNormAct", [256, 3, 2]],
            [[-1, 14], 1, "Concat", [1]],
            [-1, 3, "C3", [512, False]],
            [-1, 1, "ConvNormAct", [512, 3, 2]],
            [[-1, 10], 1, "Concat", [1]],
            [-1, 3, "C3", [1024, False]],
            [[17, 20, 23], 1, "YOLOv5Head", ["nc", "anchors", "stride"]],
        ],
    },
}


# ---------------------------------------------------------------------------------------------
# Import shims (only in this data-making process)
# ---------------------------------------------------------------------------------------------
class _Placeholder(types.ModuleType):
    """A module whose every name is a do-nothing class: for imports a network never uses."""

    __path__: ClassVar[list[str]] = []

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(
            name,
            (),
            {
                "__init__": lambda self, *a, **k: None,
                "__call__": lambda self, *a, **k: a[0] if len(a) == 1 and callable(a[0]) else self,
            },
        )


def _bare_package(name: str) -> None:
    """Register package ``name`` without running its ``__init__`` (submodules import normally)."""
    import mindspore

    site = os.path.dirname(os.path.dirname(mindspore.__file__))
    mod = types.ModuleType(name)
    mod.__path__ = [os.path.join(site, *name.split("."))]
    sys.modules[name] = mod


def shim_mindocr() -> None:
    for n in (
        "matplotlib",
        "matplotlib.pyplot",
        "sentencepiece",
        "mindspore.parallel._transformer",
        "mindspore.parallel._transformer.layers",
        "mindspore.parallel._transformer.moe",
        "mindspore.parallel._transformer.op_parallel_config",
        "mindspore.parallel._transformer.transformer",
    ):
        sys.modules[n] = _Placeholder(n)
    import huggingface_hub

    if not hasattr(huggingface_hub, "repo_type_and_id_from_hf_id"):  # only layoutxlm's tokenizer uses it
        huggingface_hub.repo_type_and_id_from_hf_id = None
    _bare_package("mindocr")


def shim_mindnlp(*models: str) -> None:
    import mindspore._c_expression as ce

    if not hasattr(ce, "Tensor"):  # mindnlp 0.3.1 imports 2.2's name for the C++ tensor class
        ce.Tensor = ce.TensorPy
    for n in ["mindnlp", "mindnlp.transformers", "mindnlp.transformers.models"] + [
        f"mindnlp.transformers.models.{m}" for m in models
    ]:
        _bare_package(n)


# ---------------------------------------------------------------------------------------------
# The networks: name -> builder(np, ms, rng) -> (net, inputs, note)
# ---------------------------------------------------------------------------------------------
def _image(rng, np, c=3, h=64, w=64):
    return rng.normal(0.0, 1.0, (1, c, h, w)).astype(np.float32)


def build_yolo(name, size=64):
    def build(np, ms, rng):
        from mindyolo.models import create_model
        from mindyolo.utils.config import Config

        cfg = json.loads(json.dumps(YOLO_CONFIGS[name]))
        net = create_model(model_name=cfg["model_name"], model_cfg=Config(cfg), num_classes=cfg["nc"])
        return (
            net,
            [_image(rng, np, 3, size, size)],
            f"mindyolo create_model('{cfg['model_name']}', configs/{name}.yaml)",
        )

    return build


def build_ocr(name, shape):
    def build(np, ms, rng):
        shim_mindocr()
        from mindocr.models import build_model

        kwargs = {"pretrained": False}
        if name.startswith("dbnet"):
            kwargs["pretrained_backbone"] = False
        net = build_model(name, **kwargs)
        return net, [_image(rng, np, *shape)], f"mindocr build_model('{name}', pretrained=False)"

    return build


def build_nlp(kind):
    def build(np, ms, rng):
        ids = rng.integers(0, 100, (1, 8)).astype(np.int32)
        if kind == "bert":
            shim_mindnlp("bert")
            from mindnlp.transformers.models.bert.configuration_bert import BertConfig
            from mindnlp.transformers.models.bert.modeling_graph_bert import MSBertModel

            cfg = BertConfig(
                vocab_size=100,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=64,
                max_position_embeddings=32,
            )
            net = MSBertModel(cfg)
        elif kind == "roberta":
            shim_mindnlp("bert", "roberta")
            from mindnlp.transformers.models.roberta.configuration_roberta import RobertaConfig

            cfg = RobertaConfig(
                vocab_size=100,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=64,
                max_position_embeddings=40,
            )
            from mindnlp.transformers.models.bert.modeling_graph_bert import MSBertModel
            from mindnlp.transformers.models.roberta.modeling_graph_roberta import MSRobertaEmbeddings

            class Roberta(MSBertModel):
                """RoBERTa as mindnlp 0.3.1 means MSRobertaModel: the graph-mode BERT with RoBERTa's
                embeddings (its MSRobertaModel derives from the pynative BertModel, which graph mode
                cannot compile)."""

                def __init__(self, config):
                    super().__init__(config)
                    self.embeddings = MSRobertaEmbeddings(config)

            net = Roberta(cfg)
            ids = ids + 2  # RoBERTa's positions start after padding_idx 1
            mask = np.ones_like(ids)
            return net, [ids, mask], "mindnlp 0.3.1 graph-mode MSBertModel + MSRobertaEmbeddings (input ids, mask)"
        else:
            shim_mindnlp("gpt2")
            from mindnlp.transformers.models.gpt2.configuration_gpt2 import GPT2Config
            from mindnlp.transformers.models.gpt2.modeling_graph_gpt2 import GPT2Model

            cfg = GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_positions=32)
            net = GPT2Model(cfg)
        return net, [ids], f"mindnlp 0.3.1 graph-mode {type(net).__name__}, 2 layers, hidden 32, 8 tokens"

    return build


def build_ecapa(np, ms, rng):
    for n in ("mir_eval", "mir_eval.separation", "Levenshtein"):  # metrics mindaudio imports, unused here
        sys.modules.setdefault(n, _Placeholder(n))
    from mindaudio.models.ecapatdnn import EcapaTDNN

    net = EcapaTDNN(
        24, lin_neurons=16, channels=(32, 32, 32, 32, 96), attention_channels=16, res2net_scale=4, se_channels=16
    )
    feats = rng.normal(0.0, 1.0, (1, 50, 24)).astype(np.float32)
    return net, [feats], "mindaudio EcapaTDNN(24 mel, channels 32x4+96, embedding 16) on 50 frames"


NETWORKS = {
    "yolov5n": build_yolo("yolov5n"),
    "yolov8n": build_yolo("yolov8n"),
    "yolov10n": build_yolo("yolov10n", 160),  # its head keeps the top 300 of (160/8)^2+... = 525 anchors
    "dbnet_resnet18": build_ocr("dbnet_resnet18", (3, 64, 64)),
    "dbnet_mobilenetv3": build_ocr("dbnet_mobilenetv3", (3, 64, 64)),
    "svtr_tiny": build_ocr("svtr_tiny", (3, 32, 100)),
    "crnn_vgg7": build_ocr("crnn_vgg7", (3, 32, 100)),
    "bert": build_nlp("bert"),
    "roberta": build_nlp("roberta"),
    "gpt2": build_nlp("gpt2"),
    "ecapa_tdnn": build_ecapa,
}


# ---------------------------------------------------------------------------------------------
# One network, in its own process
# ---------------------------------------------------------------------------------------------
#: Layers whose random weights saturate a sigmoid (scores of exactly 0 or 1: a top-k over ties, or a
#: map of ones, says nothing about the network) -> the factor that brings their outputs to O(1).
TEMPER = {
    "yolov5n": (r"model\.24\.m\.\d\.(weight|bias)$", 1e-3),
    "yolov8n": (r"cv3\.\d+\.2\.(weight|bias)$", 1e-3),
    "yolov10n": (r"cv3\.\d+\.2\.(weight|bias)$", 1e-3),
    "dbnet_resnet18": (r"head\.segm\.6\.(weight|bias)$", 0.05),
    "dbnet_mobilenetv3": (r"head\.segm\.6\.(weight|bias)$", 0.05),
}


def _temper(name, net, ms):
    pattern, factor = TEMPER.get(name, (None, 1.0))
    hits = [p for p in net.get_parameters() if pattern and re.search(pattern, p.name)]
    for p in hits:
        p.set_data(ms.Tensor(p.asnumpy() * factor))
    if pattern and not hits:
        raise SystemExit(f"{name}: no parameter matches {pattern!r} (the library's layer names changed?)")


def _other_inputs(np, rng, inputs):
    """Another input of the same kind: new token ids (same range) or new features; masks are kept."""
    x = inputs[0]
    if x.dtype.kind in "iu":
        other = rng.integers(int(x.min()), int(x.max()) + 1, x.shape).astype(x.dtype)
    else:
        other = rng.normal(0.0, 1.0, x.shape).astype(x.dtype)
    return [other, *inputs[1:]]


def worker(name: str) -> int:
    os.environ["OMP_NUM_THREADS"] = "2"
    import mindspore as ms
    import numpy as np
    from mindspore import nn, ops

    sys.path.insert(0, HERE)
    import _msutil as U
    from make_zoo import calibrate_and_perturb_bn

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    seed = U.seed_for(name) % 100000
    ms.set_seed(seed)
    np.random.seed(seed)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    net, inputs, note = NETWORKS[name](np, ms, rng)
    net.set_train(False)
    # Moving statistics from a training-mode pass on the case's own input, perturbed (make_zoo.py's).
    n_bn = calibrate_and_perturb_bn(net, ms, nn, ops, np, rng, *inputs) if inputs[0].dtype.kind == "f" else 0
    _temper(name, net, ms)
    outs = U.flatten_outputs(net(*[ms.Tensor(x) for x in inputs]))
    other = U.flatten_outputs(net(*[ms.Tensor(x) for x in _other_inputs(np, rng, inputs)]))
    sensitivity = []
    for a, b in zip(outs, other):
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        sensitivity.append(float(np.max(np.abs(a64 - b64)) / (np.max(np.abs(a64)) + 1e-12)))
    dead = [i for i, s in enumerate(sensitivity) if not s > 1e-3]
    if dead:
        raise SystemExit(f"{name}: output(s) {dead} do not change with the input (relative change {sensitivity})")
    saturated = [float(np.mean((o == 1.0) | (o == 0.0))) for o in outs]
    if any(f > 0.25 for f in saturated):
        raise SystemExit(f"{name}: outputs saturated (fraction exactly 0 or 1: {saturated}); temper the layer")
    d = os.path.join(out_dir(), name, "b1")
    os.makedirs(d, exist_ok=True)
    for fn in os.listdir(d):
        os.remove(os.path.join(d, fn))
    for i, x in enumerate(inputs):
        np.save(os.path.join(d, f"input_{i}.npy"), x)
    for i, o in enumerate(outs):
        np.save(os.path.join(d, f"output_{i}.npy"), o)
    ms.export(net, *[ms.Tensor(x) for x in inputs], file_name=os.path.join(d, "model"), file_format="MINDIR")
    mindir = os.path.join(d, "model.mindir")
    inv = U.inventory(mindir)
    re = U.flatten_outputs(nn.GraphCell(ms.load(mindir))(*[ms.Tensor(x) for x in inputs]))
    reload_ok = len(re) == len(outs) and all(np.allclose(a, c, rtol=1e-4, atol=1e-4) for a, c in zip(re, outs))
    meta = {
        "name": f"{name}_b1",
        "network": name,
        "tier": "realworld",
        "criterion": "network",
        "dtype": str(inputs[0].dtype),
        "rtol": 1e-3,
        "atol": 1e-4,
        "cosine_min": 0.99999,
        **U.requirement_fields(inv, sorted(inv["dtypes"] | {str(x.dtype) for x in inputs})),
        "inputs": [{"shape": list(x.shape), "dtype": str(x.dtype)} for x in inputs],
        "outputs": [{"shape": list(o.shape), "dtype": str(o.dtype)} for o in outs],
        "input_sensitivity": sensitivity,
        "saturated_fraction": saturated,
        "parameters": int(sum(int(np.prod(p.shape)) for p in net.get_parameters())),
        "batchnorm_layers": n_bn,
        "mindir_bytes": os.path.getsize(mindir),
        "mindspore_reload_check": "ok" if reload_ok else "MISMATCH",
        "seconds": round(time.time() - t0, 1),
        "note": note + "; BatchNorm statistics from a pass on this input, perturbed; seeded random weights",
        "mindspore": ms.__version__,
    }
    U.write_json(os.path.join(d, "case.json"), meta)
    print(
        f"REALWORLD {name}: {len(inv['kernels'])} primitives, outputs {[list(o.shape) for o in outs]}, "
        f"sensitivity {[round(s, 3) for s in sensitivity]}, reload {meta['mindspore_reload_check']}",
        flush=True,
    )
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", help=f"networks (default: all of {', '.join(NETWORKS)})")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per network")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        sys.exit(worker(args.worker))
    if args.list:
        print("\n".join(NETWORKS))
        return
    names = args.names or list(NETWORKS)
    unknown = [n for n in names if n not in NETWORKS]
    if unknown:
        sys.exit(f"unknown network(s): {', '.join(unknown)}")
    work = os.path.join(out_dir(), "_work")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, GLOG_v="3")
    for name in names:
        t0 = time.time()
        try:
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--worker", name],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=args.timeout,
                check=False,
            )
            lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
            done = [ln for ln in lines if ln.startswith("REALWORLD")]
            print(
                done[-1]
                if done and proc.returncode == 0
                else f"FAIL {name}: {lines[-1] if lines else proc.returncode}",
                f"({time.time() - t0:.0f} s)",
                flush=True,
            )
        except subprocess.TimeoutExpired:
            print(f"FAIL {name}: timed out after {args.timeout:.0f} s", flush=True)


if __name__ == "__main__":
    main()
