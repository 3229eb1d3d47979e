"""Opening an ``.onnx`` file for ``Session(path)``: its tensors, read from the file."""

from __future__ import annotations

import onnx
from mindinfer.errors import MindInferError
from mindinfer.ir import ForeignModel, TensorSpec

from .backend import ort_message


def open_onnx(path: str) -> ForeignModel:
    """The inputs and outputs of an ONNX file (dynamic dims -1), without loading its weights."""
    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception as exc:
        raise MindInferError(f"{path}: not a readable ONNX file: {ort_message(exc)}") from exc
    inits = {t.name for t in proto.graph.initializer}

    def spec(vi: onnx.ValueInfoProto) -> TensorSpec:
        t = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise MindInferError(f"{path}: input/output '{vi.name}' is not a tensor; mindinfer runs tensor models only")
        dtype = str(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type))
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
