"""Opening an ``.onnx`` file for ``Session(path)``: its tensors, read from the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mindinfer.errors import MindInferError
from mindinfer.ir import ForeignModel, TensorSpec

from . import _onnx_pb
from .backend import ort_message


def open_onnx(path: str) -> ForeignModel:
    """The inputs and outputs of an ONNX file (dynamic dims -1), without loading its weights."""
    try:
        # The message only (as onnx.load(path, load_external_data=False)): weights stay on disk.
        proto = _onnx_pb.pb().ModelProto()
        proto.ParseFromString(Path(path).read_bytes())
    except Exception as exc:
        raise MindInferError(f"{path}: not a readable ONNX file: {ort_message(exc)}") from exc
    inits = {t.name for t in proto.graph.initializer}

    def spec(vi: Any) -> TensorSpec:
        t = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise MindInferError(f"{path}: input/output '{vi.name}' is not a tensor; mindinfer runs tensor models only")
        dtype = _onnx_pb.tensor_dtype_to_np_dtype(t.elem_type)
        if dtype is None:
            raise MindInferError(
                f"{path}: input/output '{vi.name}' has ONNX element type {t.elem_type}, which mindinfer does not support"
            )
        shape = (
            None
            if not t.HasField("shape")
            else tuple(d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim)
        )
        return TensorSpec(vi.name, shape, dtype)

    inputs = [spec(vi) for vi in proto.graph.input if vi.name not in inits]
    outputs = [spec(vi) for vi in proto.graph.output]
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    return ForeignModel(path, "onnx", inputs, outputs, {"opsets": opsets, "producer": proto.producer_name})
