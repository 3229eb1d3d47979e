"""Lowerings from MindSpore primitives to ONNX, one module per primitive family.

Importing this package registers every lowering in :data:`LOWERINGS`.
"""

from . import conv, elementwise, linalg, norm, recurrent, reduce, scalar, shape  # noqa: F401  (registration)
from ._base import LOWERINGS, Lowering, lowers

__all__ = ["LOWERINGS", "Lowering", "lowers"]
