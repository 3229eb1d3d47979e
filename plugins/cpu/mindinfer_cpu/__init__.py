"""mindinfer's native CPU plugin: MindIR graphs compiled to numpy execution plans."""

from .backend import CpuBackend
from .registry import KERNELS

__all__ = ["KERNELS", "CpuBackend"]
