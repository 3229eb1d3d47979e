"""ONNX opsets the converter writes: a module of its own so that the CLI can name them without
loading the converter."""

from __future__ import annotations

__all__ = ["DEFAULT_OPSET", "MAX_OPSET", "MIN_OPSET"]

DEFAULT_OPSET = 17
#: Opsets the lowerings are written for (13 is the first with axes/splits as inputs).
MIN_OPSET, MAX_OPSET = 13, 21
