"""mindinfer-onnx: MindIR to ONNX conversion, and a mindinfer backend running it on onnxruntime.

from mindinfer_onnx import convert, convert_file
proto = convert(mindinfer.load("net.mindir"))       # an onnx.ModelProto
convert_file("net.mindir", "net.onnx", opset=17)     # written and checked
"""

from __future__ import annotations

from .convert import DEFAULT_OPSET, SUPPORTED, convert, convert_file

__all__ = ["DEFAULT_OPSET", "SUPPORTED", "convert", "convert_file"]
