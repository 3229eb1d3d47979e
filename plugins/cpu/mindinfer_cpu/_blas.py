"""BLAS thread control without threadpoolctl: find the BLAS numpy loaded and call its setter by ctypes.

numpy's wheels bundle OpenBLAS (``libscipy_openblas64_``, symbols with a ``scipy_`` prefix and a
``64_`` suffix); conda builds may use MKL or BLIS. We look for the library among the shared objects
mapped into this process and try each known setter. Runs hold BLAS to one thread
(:func:`single_threaded_blas`) because the run's own pool splits matrix products. When no setter is
found (another OS, a static BLAS), ``set_blas_threads`` returns False, BLAS keeps its own threads,
and the backend reports this in the device details (``blas_threads_control``) rather than failing.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

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

_CORENAMES = (
    "scipy_openblas_get_corename64_",
    "scipy_openblas_get_corename",
    "openblas_get_corename64_",
    "openblas_get_corename",
)


class _Blas(NamedTuple):
    """The BLAS found in this process and the entry points it has (None where it lacks one)."""

    name: str
    setter: Callable[[int], None] | None
    getter: Callable[[], int] | None
    corename: Callable[[], bytes | None] | None


_lock = threading.Lock()
_found: _Blas | None = None


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


def _find() -> _Blas:
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
        setter.argtypes = [ctypes.c_int]
        getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
        if getter is not None:
            getter.restype = ctypes.c_int
        corename = next((getattr(lib, n) for n in _CORENAMES if hasattr(lib, n)), None)
        if corename is not None:
            corename.restype = ctypes.c_char_p
        _found = _Blas(os.path.basename(path), setter, getter, corename)
        return _found
    _found = _Blas("none found", None, None, None)
    return _found


def blas_core() -> str | None:
    """The kernel set OpenBLAS picked for this CPU (e.g. 'SkylakeX', 'Haswell'), when it says."""
    corename = _find().corename
    raw = corename() if corename is not None else None
    return raw.decode(errors="replace").strip() if raw else None


def blas_core_note() -> str | None:
    """Why the BLAS may run slower kernels than this CPU supports, or None when nothing looks amiss.

    OpenBLAS picks its kernels at load time, and ``OPENBLAS_CORETYPE`` overrides that choice for the
    whole process; set to an older core on a newer CPU, it can halve matrix-product speed (measured
    on an AVX-512 machine: Haswell kernels 140 GFLOP/s, SkylakeX 260 on one thread). Nothing can
    change it once numpy is loaded, so the most we can do is say so.
    """
    forced = os.environ.get("OPENBLAS_CORETYPE", "").strip()
    if not forced:
        return None
    flags = _cpu_flags()
    if "avx512f" in flags and forced.lower() not in ("skylakex", "cooperlake", "sapphirerapids"):
        return (
            f"OPENBLAS_CORETYPE={forced} is set in the environment, so numpy's OpenBLAS runs {forced} "
            "kernels although this CPU has AVX-512; unset it before starting Python for faster matrix products"
        )
    return None


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def blas_info() -> str:
    """Which BLAS library the thread setting reaches, or 'none found'."""
    return _find().name


def set_blas_threads(n: int) -> bool:
    """Set the BLAS thread pool size (process-wide); False when no known setter exists."""
    setter = _find().setter
    if setter is None:
        return False
    with _lock:
        setter(int(n))
    return True


_hold_lock = threading.Lock()
_holders = 0
_saved: int | None = None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Hold BLAS to one thread while any run is inside; the count found first is restored after the last.

    The run's own pool splits matrix products (:mod:`.parallel`), so BLAS threads would only compete
    with it. Concurrent runs nest: the first one in saves the count, the last one out restores it.
    """
    global _holders, _saved
    with _hold_lock:
        if _holders == 0:
            _saved = get_blas_threads()
            set_blas_threads(1)
        _holders += 1
    try:
        yield
    finally:
        with _hold_lock:
            _holders -= 1
            if _holders == 0 and _saved is not None:
                set_blas_threads(_saved)


def get_blas_threads() -> int | None:
    """The BLAS thread count, when the library tells it."""
    getter = _find().getter
    return int(getter()) if getter is not None else None
