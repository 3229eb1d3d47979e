"""Case folders (model.mindir, input_N.npy, output_N.npy from MindSpore, case.json) and helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from stored_cases import CASES, ROOT, ZOO, case_json, inputs, outputs

__all__ = [
    "CASES",
    "MODEL_CASES",
    "OP_CASES",
    "ROOT",
    "ZOO",
    "assert_matches",
    "case_json",
    "inputs",
    "op_types",
    "ort_run",
    "outputs",
    "tolerance",
]

MODEL_CASES = sorted(p for p in (CASES / "model").glob("*") if (p / "model.mindir").is_file())
OP_CASES = sorted(p for p in (CASES / "op").glob("*") if (p / "model.mindir").is_file())


def tolerance(folder: Path) -> tuple[float, float]:
    info = case_json(folder)
    return float(info.get("rtol", 1e-4)), float(info.get("atol", 1e-5))


def ort_run(proto: onnx.ModelProto, feeds: list[np.ndarray], threads: int = 1) -> list[np.ndarray]:
    """Run a converted model on a bare onnxruntime CPU session."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return list(sess.run(None, dict(zip(names, feeds))))


def assert_matches(got: list[np.ndarray], want: list[np.ndarray], rtol: float, atol: float, where: str) -> None:
    assert len(got) == len(want), f"{where}: {len(got)} outputs, MindSpore gave {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"{where}: output {i} shape {g.shape}, MindSpore {w.shape}"
        if w.dtype == np.bool_ or w.dtype.kind in "iu":
            assert np.array_equal(g, w), f"{where}: output {i} differs"
            continue
        with np.errstate(invalid="ignore"):  # inf - inf in the special-value cases
            worst = float(np.max(np.abs(g.astype(np.float64) - w))) if w.size else 0.0
        assert np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True), f"{where}: output {i} max abs diff {worst:.3g}"


def op_types(proto: onnx.ModelProto) -> set[str]:
    """Every ONNX op type in the model, subgraphs included."""
    found: set[str] = set()

    def walk(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            found.add(node.op_type)
            for attr in node.attribute:
                if attr.HasField("g"):
                    walk(attr.g)

    walk(proto.graph)
    return found
