"""The parts of the ``onnx`` package that building a model for onnxruntime needs, without ``import onnx``.

``import onnx`` costs about a second (most of it ``ml_dtypes``, which ``onnx.helper`` imports), and
a Session needs none of it: converting builds protobuf messages and hands their bytes to
onnxruntime. So this module loads onnx's own generated ``onnx_ml_pb2`` (the message classes, which
import only ``google.protobuf``) from the installed onnx package without running its
``__init__``, and provides the few ``helper``/``numpy_helper`` functions the converter uses. The
messages are the very classes ``onnx`` uses (protobuf keeps one class per descriptor), so
``onnx.checker`` and ``onnx.save_model`` accept them when ``mindinfer convert`` imports onnx.
"""

from __future__ import annotations

import functools
import importlib.util
import numbers
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "from_array",
    "make_graph",
    "make_model",
    "make_node",
    "make_opsetid",
    "make_tensor_value_info",
    "min_ir_version",
    "np_dtype_to_tensor_dtype",
    "pb",
    "tensor_dtype_to_np_dtype",
]

_MODULE = "mindinfer_onnx._onnx_ml_pb2"

# TensorProto.DataType values (onnx.proto) of the numpy dtypes MindIR models use.
_DTYPES = {
    "float32": 1,
    "uint8": 2,
    "int8": 3,
    "uint16": 4,
    "int16": 5,
    "int32": 6,
    "int64": 7,
    "bool": 9,
    "float16": 10,
    "float64": 11,
    "uint32": 12,
    "uint64": 13,
    "complex64": 14,
    "complex128": 15,
}
# The IR version each default-domain opset first appeared with (onnx/helper.py's VERSION_TABLE);
# a model declares the oldest one that carries its opset, so older consumers accept it.
_IR_FOR_OPSET = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


@functools.cache
def pb() -> ModuleType:
    """onnx's generated protobuf module (``ModelProto``, ``NodeProto``, ...), loaded on first use."""
    if "onnx" in sys.modules:  # onnx is imported already: use its module as it is
        import onnx.onnx_ml_pb2 as loaded

        return loaded
    spec = importlib.util.find_spec("onnx")
    if spec is None or not spec.submodule_search_locations:
        from mindinfer.errors import BackendUnavailableError

        raise BackendUnavailableError("plugin 'onnx': the onnx package is not installed; pip install onnx")
    path = Path(next(iter(spec.submodule_search_locations))) / "onnx_ml_pb2.py"
    file_spec = importlib.util.spec_from_file_location(_MODULE, path)
    assert file_spec is not None and file_spec.loader is not None
    module = importlib.util.module_from_spec(file_spec)
    sys.modules[_MODULE] = module
    file_spec.loader.exec_module(module)
    return module


def np_dtype_to_tensor_dtype(dtype: np.dtype | str) -> int:
    name = np.dtype(dtype).name
    if name not in _DTYPES:
        raise ValueError(f"numpy dtype {name} has no ONNX tensor type here")
    return _DTYPES[name]


def tensor_dtype_to_np_dtype(elem_type: int) -> str | None:
    """The numpy dtype name of an ONNX element type, or None for one without a numpy dtype here."""
    return next((name for name, value in _DTYPES.items() if value == elem_type), None)


def from_array(array: np.ndarray, name: str) -> Any:
    """A TensorProto holding ``array`` as little-endian raw data (``numpy_helper.from_array``)."""
    t = pb().TensorProto()
    t.name = name
    t.data_type = np_dtype_to_tensor_dtype(array.dtype)
    t.dims.extend(int(d) for d in array.shape)
    t.raw_data = np.asarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return t


def make_attribute(key: str, value: Any) -> Any:
    """An AttributeProto whose type follows the Python value, as ``onnx.helper.make_attribute``."""
    A = pb().AttributeProto
    attr = A()
    attr.name = key
    if isinstance(value, numbers.Integral):
        attr.i, attr.type = int(value), A.INT
    elif isinstance(value, numbers.Real):
        attr.f, attr.type = float(value), A.FLOAT
    elif isinstance(value, (str, bytes)):
        attr.s, attr.type = value.encode() if isinstance(value, str) else value, A.STRING
    elif isinstance(value, pb().TensorProto):
        attr.t.CopyFrom(value)
        attr.type = A.TENSOR
    elif isinstance(value, pb().GraphProto):
        attr.g.CopyFrom(value)
        attr.type = A.GRAPH
    elif isinstance(value, Iterable):
        items = list(value)
        if all(isinstance(v, numbers.Integral) for v in items):
            attr.ints.extend(int(v) for v in items)
            attr.type = A.INTS
        elif all(isinstance(v, numbers.Real) for v in items):
            attr.floats.extend(float(v) for v in items)
            attr.type = A.FLOATS
        elif all(isinstance(v, (str, bytes)) for v in items):
            attr.strings.extend(v.encode() if isinstance(v, str) else v for v in items)
            attr.type = A.STRINGS
        elif all(isinstance(v, pb().TensorProto) for v in items):
            attr.tensors.extend(items)
            attr.type = A.TENSORS
        elif all(isinstance(v, pb().GraphProto) for v in items):
            attr.graphs.extend(items)
            attr.type = A.GRAPHS
        else:
            raise TypeError(f"attribute {key!r}: a list of mixed or unsupported values {items!r}")
    else:
        raise TypeError(f"attribute {key!r}: unsupported value {value!r}")
    return attr


def make_node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str = "", **attrs: Any) -> Any:
    node = pb().NodeProto()
    node.op_type = op_type
    node.input.extend(inputs)
    node.output.extend(outputs)
    if name:
        node.name = name
    node.attribute.extend(make_attribute(k, v) for k, v in sorted(attrs.items()) if v is not None)
    return node


def make_tensor_value_info(name: str, elem_type: int, shape: Sequence[int | str | None] | None) -> Any:
    vi = pb().ValueInfoProto()
    vi.name = name
    tensor = vi.type.tensor_type
    tensor.elem_type = elem_type
    if shape is not None:
        tensor.shape.SetInParent()  # a rank-0 shape is a shape too
        for d in shape:
            dim = tensor.shape.dim.add()
            if isinstance(d, str):
                dim.dim_param = d
            elif d is not None:
                dim.dim_value = int(d)
    return vi


def make_graph(
    nodes: Sequence[Any], name: str, inputs: Sequence[Any], outputs: Sequence[Any], initializer: Sequence[Any] = ()
) -> Any:
    graph = pb().GraphProto()
    graph.name = name
    graph.node.extend(nodes)
    graph.input.extend(inputs)
    graph.output.extend(outputs)
    graph.initializer.extend(initializer)
    return graph


def make_opsetid(domain: str, version: int) -> Any:
    opset = pb().OperatorSetIdProto()
    opset.domain, opset.version = domain, version
    return opset


def min_ir_version(opset: int) -> int:
    return _IR_FOR_OPSET.get(opset, max(_IR_FOR_OPSET.values()))


def make_model(graph: Any, opset: int, producer_name: str = "", producer_version: str = "") -> Any:
    model = pb().ModelProto()
    model.ir_version = min_ir_version(opset)
    model.opset_import.append(make_opsetid("", opset))
    model.producer_name, model.producer_version = producer_name, producer_version
    model.graph.CopyFrom(graph)
    return model
