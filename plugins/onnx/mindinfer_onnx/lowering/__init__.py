"""Lowerings from MindSpore primitives to ONNX, one module per primitive family.

Importing this package registers every lowering in :data:`LOWERINGS`.
"""

from . import (  # noqa: F401  (registration)
    conv,
    elementwise,
    grid_sample,
    linalg,
    norm,
    recurrent,
    reduce,
    remainder,
    scalar,
    scatter,
    shape,
)
from ._base import LOWERINGS, Lowering, lowers

__all__ = ["LOWERINGS", "Lowering", "lowers"]
