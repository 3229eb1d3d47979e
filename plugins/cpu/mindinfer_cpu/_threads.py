"""BLAS thread control without threadpoolctl: find the BLAS numpy loaded and call its setter by ctypes.

numpy's wheels bundle OpenBLAS (``libscipy_openblas64_``, symbols with a ``scipy_`` prefix and a
``64_`` suffix); conda builds may use MKL or BLIS. We look for the library among the shared objects
mapped into this process and try each known setter. When none is found (another OS, a static BLAS),
``set_blas_threads`` returns False and the ``threads`` option has no effect on BLAS; the backend
reports this in the device details (``blas_threads_control``) rather than failing.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable

import numpy as np

_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
    "MKL_Set_Num_Threads",
    "mkl_set_num_threads",
    "bli_thread_set_num_threads",
)
_GETTERS = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
    "MKL_Get_Max_Threads",
    "mkl_get_max_threads",
)

_lock = threading.Lock()
_found: tuple[str, Callable[[int], None] | None, Callable[[], int] | None] | None = None
_current: int | None = None


def _candidate_paths() -> list[str]:
    """Shared objects mapped into this process whose name suggests a BLAS (Linux /proc)."""
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # make sure the BLAS is loaded
    paths: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6:
                    path = parts[-1]
                    low = os.path.basename(path).lower()
                    if ("blas" in low or "mkl" in low or "blis" in low) and path not in paths:
                        paths.append(path)
    except OSError:
        pass
    return paths


def _find() -> tuple[str, Callable[[int], None] | None, Callable[[], int] | None]:
    global _found
    if _found is not None:
        return _found
    for path in _candidate_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
        if setter is None:
            continue
        getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
        if getter is not None:
            getter.restype = ctypes.c_int
        setter.argtypes = [ctypes.c_int]
        _found = (os.path.basename(path), setter, getter)
        return _found
    _found = ("none found", None, None)
    return _found


def blas_info() -> str:
    """Which BLAS library the thread setting reaches, or 'none found'."""
    return _find()[0]


def set_blas_threads(n: int) -> bool:
    """Set the BLAS thread pool size (process-wide); False when no known setter exists."""
    global _current
    with _lock:
        if _current == n:
            return True
        _, setter, _ = _find()
        if setter is None:
            return False
        setter(int(n))
        _current = int(n)
        return True


def get_blas_threads() -> int | None:
    """The BLAS thread count, when the library tells it."""
    _, _, getter = _find()
    return int(getter()) if getter is not None else None
