"""Triton's system shared-memory extension: tensors that do not travel in the request.

A client on the same machine puts an input into a POSIX shared-memory object, registers a region of
it under a name (``POST /v2/systemsharedmemory/region/NAME/register`` or the gRPC
``SystemSharedMemoryRegister``), and names that region in the infer request's input parameters
(``shared_memory_region``, ``shared_memory_byte_size``, ``shared_memory_offset``). Outputs can be
asked for the same way; the server then writes them into the region and the reply carries only
their shape. tritonclient's ``tritonclient.utils.shared_memory`` makes such objects.

Why: a 600 KB image costs a Python client and this server more CPU to send over a socket than the
request handling itself (``benchmarks/bench_serve.py --protocol http http-shm``). On an edge box
where the camera pipeline and the server share the cores, that is CPU taken from the model.

Only clients on this machine can share memory with the server, so registration is refused unless
the request comes from a loopback address. Objects are opened from ``/dev/shm`` (Linux).
"""

from __future__ import annotations

import ipaddress
import mmap
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RequestError

__all__ = ["NO_SHM", "SHM_DIR", "SharedMemoryRegions", "ShmRef", "is_loopback", "shm_ref"]

#: Where Linux keeps POSIX shared-memory objects (shm_overview(7)): ``shm_open("/key")`` is this file.
SHM_DIR = Path("/dev/shm")


#: Why a server without regions (Ray Serve's ingress) refuses a shared-memory tensor.
NO_SHM = (
    "this server does not serve system shared memory (under --ray the models run in other processes, "
    "possibly on other machines); send the tensor in the request"
)


@dataclass(frozen=True)
class ShmRef:
    """A tensor's place in a registered region, as an infer request's parameters give it."""

    region: str
    byte_size: int
    offset: int = 0


@dataclass
class _Region:
    key: str
    offset: int
    byte_size: int
    memory: mmap.mmap


def _int_param(params: Any, name: str, where: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RequestError(f"{where}: parameter {name} must be an integer >= 0, got {value!r}")
    return value


def shm_ref(params: Any, where: str) -> ShmRef | None:
    """The shared-memory place named by a tensor's parameters (a dict of plain values), or None."""
    if not isinstance(params, dict) or "shared_memory_region" not in params:
        return None
    region = params["shared_memory_region"]
    if not isinstance(region, str) or not region:
        raise RequestError(f"{where}: parameter shared_memory_region must be a region name, got {region!r}")
    if "shared_memory_byte_size" not in params:
        raise RequestError(f"{where}: shared_memory_region {region!r} needs shared_memory_byte_size")
    return ShmRef(
        region,
        _int_param(params, "shared_memory_byte_size", where),
        _int_param(params, "shared_memory_offset", where, 0),
    )


def is_loopback(host: str | None) -> bool:
    """Whether a peer address (``127.0.0.1``, ``::1``, ``::ffff:127.0.0.1``) is this machine."""
    if not host:
        return False
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return bool((mapped or addr).is_loopback)


def _object_path(key: str) -> Path:
    # shm_open keys are "/name": one leading slash, then a name that is not a path.
    name = key.removeprefix("/")
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise RequestError(f"shared-memory key {key!r} is not a POSIX shared-memory name (like '/input0')")
    return SHM_DIR / name


class SharedMemoryRegions:
    """The regions clients registered, by name; reads and writes checked against their bounds.

    Arrays read from a region are views of the shared memory, not copies: the client must leave
    an input alone until its reply comes, as with Triton. Unregistering drops the server's mapping
    once no request still uses it.
    """

    def __init__(self) -> None:
        self._regions: dict[str, _Region] = {}
        self._lock = threading.Lock()  # the gRPC and HTTP front ends share one loop; Ray may not

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        if not isinstance(name, str) or not name:
            raise RequestError("a shared-memory region needs a name")
        for what, value in (("offset", offset), ("byte_size", byte_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RequestError(f"shared-memory region {name!r}: {what} must be an integer >= 0, got {value!r}")
        if not isinstance(key, str):
            raise RequestError(f"shared-memory region {name!r}: key must be a string, got {key!r}")
        if byte_size == 0:
            raise RequestError(f"shared-memory region {name!r}: byte_size must be more than 0")
        path = _object_path(key)
        with self._lock:
            if name in self._regions:
                raise RequestError(
                    f"shared-memory region {name!r} is already registered (key {self._regions[name].key!r}); "
                    "unregister it first"
                )
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                raise RequestError(
                    f"shared-memory region {name!r}: no shared-memory object {key!r} on this machine "
                    f"({path} does not exist); create it before registering"
                ) from None
            except OSError as exc:
                raise RequestError(f"shared-memory region {name!r}: cannot open {key!r} ({exc.strerror})") from None
            try:
                size = os.fstat(fd).st_size
                if offset + byte_size > size:
                    raise RequestError(
                        f"shared-memory region {name!r}: offset {offset} + byte_size {byte_size} runs past the "
                        f"end of {key!r} ({size} bytes)"
                    )
                memory = mmap.mmap(fd, offset + byte_size)
            finally:
                os.close(fd)  # the mapping keeps the object alive
            self._regions[name] = _Region(key, offset, byte_size, memory)

    def unregister(self, name: str = "") -> None:
        """Drops ``name`` (every region when empty); an unknown name is not an error, as in Triton."""
        with self._lock:
            if name:
                self._regions.pop(name, None)
            else:
                self._regions.clear()

    def status(self, name: str = "") -> list[dict[str, Any]]:
        with self._lock:
            if name and name not in self._regions:
                raise RequestError(f"no shared-memory region named {name!r} is registered")
            items = [(name, self._regions[name])] if name else sorted(self._regions.items())
            return [{"name": n, "key": r.key, "offset": r.offset, "byte_size": r.byte_size} for n, r in items]

    def _span(self, ref: ShmRef, where: str) -> tuple[_Region, int]:
        with self._lock:
            region = self._regions.get(ref.region)
        if region is None:
            raise RequestError(f"{where}: no shared-memory region named {ref.region!r} is registered")
        if ref.offset + ref.byte_size > region.byte_size:
            raise RequestError(
                f"{where}: shared_memory_offset {ref.offset} + shared_memory_byte_size {ref.byte_size} runs past "
                f"the end of region {ref.region!r} ({region.byte_size} bytes)"
            )
        return region, region.offset + ref.offset

    def check(self, ref: ShmRef, where: str) -> None:
        """That ``ref`` is inside a registered region (an output's place, before the model runs)."""
        self._span(ref, where)

    def read(self, ref: ShmRef, where: str) -> memoryview:
        """The ``byte_size`` bytes at ``ref``: a view of the shared memory."""
        region, start = self._span(ref, where)
        return memoryview(region.memory)[start : start + ref.byte_size]

    def write(self, ref: ShmRef, array: np.ndarray, where: str) -> None:
        """Puts ``array``'s little-endian bytes at ``ref``; the place must hold all of them."""
        region, start = self._span(ref, where)
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        if data.nbytes > ref.byte_size:
            raise RequestError(
                f"{where}: the output takes {data.nbytes} bytes (shape {list(array.shape)}, {array.dtype}), more "
                f"than its shared_memory_byte_size {ref.byte_size}"
            )
        view = memoryview(region.memory)[start : start + data.nbytes]
        view[:] = data.reshape(-1).view(np.uint8).data
        view.release()
