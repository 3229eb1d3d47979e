"""The cpu backend: devices, capabilities (exactly the registered kernels) and compile."""

from __future__ import annotations

import os
import platform
from typing import Any

from mindinfer.backend import BackendBase, Capabilities, Device, Option
from mindinfer.ir import Model

from . import kernels  # noqa: F401  (fills the registry)
from ._allocator import allocator_status, keep_freed_memory
from ._blas import blas_core, blas_core_note, blas_info
from ._dtypes import SUPPORTED_DTYPES
from .executable import CpuExecutable
from .registry import KERNELS, PLUGIN
from .runtime import DEFAULT_MAX_LOOP_ITERATIONS


def _cpu_model() -> str:
    """The processor's marketing name (Linux /proc/cpuinfo, else the platform module)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class CpuBackend(BackendBase):
    """Runs MindIR graphs with numpy kernels through compiled execution plans."""

    name = PLUGIN
    device_kinds = ("cpu",)
    priority = 100
    capabilities = Capabilities(
        primitives=KERNELS.names(),
        dtypes=SUPPORTED_DTYPES,
        dynamic_shapes=True,
        control_flow=True,
    )
    options = (
        Option("threads", int, None, "worker threads for kernels and BLAS (default: all usable cores)", minimum=1),
        Option(
            "max_loop_iterations",
            int,
            DEFAULT_MAX_LOOP_ITERATIONS,
            "trips one loop may make in one run before the run stops with an error naming the loop",
            minimum=1,
        ),
    )

    def devices(self) -> list[Device]:
        return [
            Device(
                kind="cpu",
                index=0,
                name=_cpu_model(),
                usable=True,
                details=_details(),
            )
        ]

    def _compile(self, model: Model, device: Device, options: dict[str, Any]) -> CpuExecutable:
        keep_freed_memory()
        return CpuExecutable(model, options["threads"], options["max_loop_iterations"])


def _details() -> dict[str, Any]:
    details: dict[str, Any] = {
        "cores": _usable_cores(),
        "machine": platform.machine(),
        "blas": blas_info(),
        "blas_core": blas_core(),
        "blas_threads_control": blas_info() != "none found",
        "allocator": allocator_status(),
    }
    note = blas_core_note()
    if note:
        details["note"] = note
    return details
