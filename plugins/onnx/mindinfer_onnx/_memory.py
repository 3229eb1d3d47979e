"""Weights handed to onnxruntime from memory, for models whose weights must never touch the disk.

Past protobuf's 2 GB limit a model normally travels to onnxruntime as a file with external data
(a temporary folder). A decrypted model (``Model.encrypted``) must not be written in plain, so its
large initializers are instead marked external with a location that never exists, and their values
given to ``SessionOptions.add_external_initializers`` as OrtValues over numpy arrays in memory;
onnxruntime then never opens the location.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

__all__ = ["detach_initializers"]

#: Initializers at least this large leave the proto (small ones stay inline: shapes, axes, scalars).
_MIN_BYTES = 1024
_NOWHERE = "mindinfer-in-memory-weights-never-written"


def detach_initializers(proto: onnx.ModelProto) -> tuple[bytes, list[str], list[Any], list[np.ndarray]]:
    """``(model bytes, names, OrtValues, arrays)``; keep ``arrays`` alive as long as the session."""
    names: list[str] = []
    values: list[Any] = []
    arrays: list[np.ndarray] = []
    for t in proto.graph.initializer:
        if len(t.raw_data) < _MIN_BYTES:
            continue
        arr = np.ascontiguousarray(numpy_helper.to_array(t))
        t.ClearField("raw_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        del t.external_data[:]
        for key, value in (("location", _NOWHERE), ("offset", "0"), ("length", str(arr.nbytes))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        names.append(t.name)
        values.append(ort.OrtValue.ortvalue_from_numpy(arr))
        arrays.append(arr)
    return proto.SerializeToString(), names, values, arrays
