"""A padded glibc heap for the small processes of the speed measurements: the bare app of the floor,
and the stand-alone clients of `bench_http_floor.py` and `bench_serve_timeline.py`.

tritonclient builds each request in fresh buffers (one joining the JSON header and the tensor, one
adding the HTTP head) and frees them when the reply is in; the bare app reads the body into fresh
buffers too. In a process that has allocated little else, glibc hands that memory back to the kernel
when it is freed, and the next request faults it in again: 230 page faults for a 600 KB request,
about 0.4 ms on this VM (`bench_http_floor.py --compare-app-heap 4` shows it side by side).
`mindinfer serve` and `bench_serve.py`'s clients take none (their heaps grew while loading a model
and its data; `bench_serve.py` reports both counts), so without the pad the floor would be slower
than the server it stands under. A top pad (glibc's ``M_TOP_PAD``; ``MALLOC_TOP_PAD_`` in a new
process's environment) keeps that much freed memory at the top of the heap, and the faults stop.
"""

from __future__ import annotations

import ctypes
import platform
import resource

__all__ = ["HEAP_HELP", "PAD_ENV", "faults", "pad_heap"]

_M_TOP_PAD = -2  # glibc's malloc.h
_PAD = 16 << 20

#: The same setting for a process about to start.
PAD_ENV = {"MALLOC_TOP_PAD_": str(_PAD)}

HEAP_HELP = "padded (default): a heap top pad for the app and this client (see _malloc.py); system: glibc's default"


def pad_heap() -> bool:
    """Sets this process's heap top pad; False where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    return bool(ctypes.CDLL(None).mallopt(_M_TOP_PAD, _PAD))


def faults() -> int:
    """This process's minor page faults so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
