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
from dataclasses import dataclass, field

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


@dataclass
class _Stats:
    runs: int = 0
    interval: int = 8
    lat: dict[int, float] = field(default_factory=dict)


class ThreadGovernor:
    """Picks 1 or N BLAS threads for each run from measured latency.

    On a machine where other processes keep the cores busy, every multi-threaded BLAS call waits
    for the scheduler to run its second thread, and N threads become many times slower than one
    (measured: 13x on a small GEMM with a busy neighbour). ``threads=N`` is therefore a maximum: the
    governor keeps the faster of 1 and N for each input shape, re-trying the other now and then
    (less often each time it loses clearly, so that a losing choice costs little on average).
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._lock = threading.Lock()
        self._state: dict[object, _Stats] = {}
        #: The thread count chosen for the latest run (for ``mindinfer bench`` style reports).
        self.last: int = maximum

    def choose(self, key: object) -> int:
        """Thread count for the next run with inputs described by ``key`` (their shapes)."""
        if self.maximum <= 1:
            return 1
        with self._lock:
            st = self._state.setdefault(key, _Stats())
            lat = st.lat
            st.runs += 1
            if self.maximum not in lat:
                n = self.maximum
            elif 1 not in lat:
                n = 1
            else:
                best = min(lat, key=lambda k: lat[k])
                other = 1 if best == self.maximum else self.maximum
                n = other if st.runs % st.interval == 0 else best
        self.last = n
        return n

    def record(self, key: object, n: int, seconds: float) -> None:
        """Fold one run's latency into the estimate for ``n`` threads."""
        if self.maximum <= 1:
            return
        with self._lock:
            st = self._state[key]
            lat = st.lat
            explored = n in lat and len(lat) == 2 and n != min(lat, key=lambda k: lat[k])
            lat[n] = seconds if n not in lat else 0.7 * lat[n] + 0.3 * seconds
            if explored:
                other = 1 if n == self.maximum else self.maximum
                # A clear loser is re-tried less often (up to every 256th run); a close one soon.
                lose = lat[n] > 1.5 * lat[other]
                st.interval = min(256, st.interval * 2) if lose else 8
