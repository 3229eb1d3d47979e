"""Keep freed memory for reuse, so that a run's large intermediates do not page-fault on every run.

glibc serves blocks above its mmap threshold (128 KiB, rising to at most 32 MiB as blocks are freed)
with fresh mappings that go straight back to the kernel on ``free``, and trims the heap above a similar
threshold. A model's intermediates are megabytes each and are freed and allocated again on every run,
so each run page-faults its way through fresh memory; in a virtual machine each fault is expensive
(measured here: shufflenet_v2_x1_0's first convolution, 2.1 ms alone, took 8-10 ms inside a run at
batch 8). On the
first compile the cpu backend therefore changes two settings once for the process (``mallopt``): no
fresh mappings for large blocks (``M_MMAP_MAX`` 0: a 32 MiB threshold still left mobilenet_v2's
38 MB expansion at batch 8 faulting, 6-17 ms of a 50 ms run) and a 1 GiB trim threshold. The heap
keeps what a run freed and the next run reuses it. That is what an inference runtime's arena does
(onnxruntime keeps its arena too); the cost is that the process keeps its peak memory.
Measured (median of 30 ``Session.run`` at batch 8, 2 threads, separate processes, repeated):
mobilenet_v2 48-56 -> 39-41 ms, shufflenet_v2 24-28 -> 21 ms, resnet18 86-97 -> 85 ms.

Left alone when the user set glibc's own variables (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_MAX_``, or malloc tunables in ``GLIBC_TUNABLES``), when
``MINDINFER_CPU_KEEP_MEMORY=0``, and on other C libraries (musl, macOS, Windows); the device details
(``mindinfer devices``) say which.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading

#: glibc's ``mallopt`` parameter numbers (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
#: Free memory the heap keeps at its top before giving it back.
TRIM_THRESHOLD = 1 << 30
#: The opt-out variable.
ENV = "MINDINFER_CPU_KEEP_MEMORY"
_GLIBC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")

_lock = threading.Lock()
_status: str | None = None


_KEPT = f"keeps freed memory for reuse (glibc: large blocks from the heap, trim threshold {TRIM_THRESHOLD >> 20} MiB)"


def _left_alone() -> str | None:
    """Why the settings must not be applied here, or None."""
    if os.environ.get(ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return f"{ENV}={os.environ[ENV]}"
    user = [name for name in _GLIBC_ENV[:-1] if os.environ.get(name)]
    if "glibc.malloc." in os.environ.get(_GLIBC_ENV[-1], ""):
        user.append(_GLIBC_ENV[-1])
    if user:
        return f"{', '.join(user)} set by the user"
    if platform.libc_ver()[0] != "glibc":
        return "not glibc"
    return None


def _apply() -> str:
    reason = _left_alone()
    if reason is not None:
        return f"left as it was ({reason})"
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    except (OSError, AttributeError) as exc:
        return f"left as it was (mallopt unavailable: {exc})"
    return _KEPT if ok else "left as it was (glibc refused the settings)"


def keep_freed_memory() -> str:
    """Apply the settings once per process; returns what was done (also when done before)."""
    global _status
    with _lock:
        if _status is None:
            _status = _apply()
        return _status


def allocator_status() -> str:
    """What :func:`keep_freed_memory` did, or will do at the first compile."""
    if _status is not None:
        return _status
    reason = _left_alone()
    return f"left as it was ({reason})" if reason else f"{_KEPT} from the first compile"


__all__ = ["ENV", "allocator_status", "keep_freed_memory"]
