"""pyACL, imported lazily, and the process-wide ACL state: init once, one context per device.

Conventions of pyACL (CANN's ``acl`` module, see ``hicann/runtime`` ``python/pyACL``): handles are plain
ints; a call returns ``ret`` or ``(value, ret)``; ``ret == 0`` is ``ACL_SUCCESS``. Every non-zero code
becomes an :class:`AclError` naming the call, the code and ``acl.get_recent_err_msg()``.

``acl.init`` may run only once per process, so it is reference-counted: the first executable (or
device probe) initializes, the last one to release destroys the device contexts, and ``acl.finalize``
runs at interpreter exit (after closing whatever executables are still open).

The simulator (:mod:`mindinfer_ascend.testing.acl_simulator`) replaces ``acl`` only when the
environment variable ``MINDINFER_ASCEND_SIMULATOR`` is set; never silently.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import threading
import weakref
from types import ModuleType
from typing import Any, Protocol

from mindinfer.errors import MindInferError

__all__ = [
    "INSTALL_HINT",
    "SIMULATOR_ENV",
    "AclError",
    "AclUnavailableError",
    "DeviceContext",
    "Runtime",
    "check",
    "load_acl",
    "runtime",
    "simulated",
    "value",
]

log = logging.getLogger(__name__)

#: Set to ``1`` (or a SoC name such as ``Ascend310P3``) to run against the ACL simulator.
SIMULATOR_ENV = "MINDINFER_ASCEND_SIMULATOR"
INSTALL_HINT = (
    "install the CANN toolkit (or NNRT) and run `source /usr/local/Ascend/ascend-toolkit/set_env.sh` "
    "before starting Python"
)

# Enum values pyACL does not export in older CANN (Ascend/samples python/common/atlas_utils/constants.py).
ACL_MEM_MALLOC_NORMAL_ONLY = 2
ACL_MEMCPY_HOST_TO_DEVICE = 1
ACL_MEMCPY_DEVICE_TO_HOST = 2
ACL_MEMCPY_DEVICE_TO_DEVICE = 3
ACL_DEVICE, ACL_HOST = 0, 1  # acl.rt.get_run_mode(): the program runs on the board itself, or on a host
ACL_DDR_MEM, ACL_HBM_MEM = 0, 1

#: Names of the codes a user is likely to meet (acl_base.h, ge_error_codes.h, rt_error_codes.h).
ERROR_NAMES = {
    100000: "ACL_ERROR_INVALID_PARAM",
    100001: "ACL_ERROR_UNINITIALIZE",
    100002: "ACL_ERROR_REPEAT_INITIALIZE",
    100003: "ACL_ERROR_INVALID_FILE",
    100011: "ACL_ERROR_INVALID_MODEL_ID",
    100012: "ACL_ERROR_DESERIALIZE_MODEL",
    100013: "ACL_ERROR_PARSE_MODEL",
    100017: "ACL_ERROR_MODEL_INPUT_NOT_MATCH",
    100018: "ACL_ERROR_MODEL_OUTPUT_NOT_MATCH",
    100019: "ACL_ERROR_MODEL_NOT_DYNAMIC",
    100037: "ACL_ERROR_REPEAT_FINALIZE",
    145006: "ACL_ERROR_GE_EXEC_MODEL_DATA_SIZE_INVALID",
    145013: "ACL_ERROR_GE_DYNAMIC_BATCH_SIZE_INVALID",
    148051: "ACL_ERROR_RELATIVE_RESOURCE_NOT_CLEARED",
    200000: "ACL_ERROR_BAD_ALLOC",
    200002: "ACL_ERROR_INVALID_DEVICE",
    200005: "ACL_ERROR_INVALID_RESOURCE_HANDLE",
    107000: "ACL_ERROR_RT_PARAM_INVALID",
    107001: "ACL_ERROR_RT_INVALID_DEVICEID",
    107002: "ACL_ERROR_RT_CONTEXT_NULL",
    107004: "ACL_ERROR_RT_MODEL_CONTEXT",
    207001: "ACL_ERROR_RT_MEMORY_ALLOCATION",
    207004: "ACL_ERROR_RT_NO_DEVICE",
    207005: "ACL_ERROR_RT_RESOURCE_ALLOC_FAIL",
    500000: "ACL_ERROR_INTERNAL_ERROR",
    500004: "ACL_ERROR_DRV_FAILURE",
    507008: "ACL_ERROR_RT_SOC_VERSION",
    507011: "ACL_ERROR_RT_MODEL_EXECUTE",
    507899: "ACL_ERROR_RT_DRV_INTERNAL_ERROR",
}


class AclError(MindInferError):
    """A pyACL call returned a non-zero code."""

    def __init__(self, call: str, code: int, detail: str = "", where: str = "") -> None:
        self.call, self.code, self.detail = call, int(code), detail
        name = ERROR_NAMES.get(int(code), "see CANN's error code list")
        msg = f"plugin 'ascend': {call} returned {code} ({name})"
        if where:
            msg += f" {where}"
        msg += f": {detail.strip() or 'acl.get_recent_err_msg() is empty'}"
        super().__init__(msg)


class AclUnavailableError(MindInferError):
    """pyACL cannot be imported here (the reason says why and what to install)."""


def simulated() -> bool:
    """True when ``MINDINFER_ASCEND_SIMULATOR`` asks for the ACL simulator."""
    return os.environ.get(SIMULATOR_ENV, "").strip() not in ("", "0")


def load_acl() -> Any:
    """The ``acl`` module (or the simulator, when asked for); :class:`AclUnavailableError` if absent."""
    if simulated():
        from .testing import acl_simulator

        return acl_simulator
    try:
        module: ModuleType = importlib.import_module("acl")
    except ImportError as exc:
        raise AclUnavailableError(
            f"pyACL (the `acl` module of Huawei's CANN toolkit) is not importable here ({exc}); {INSTALL_HINT}"
        ) from exc
    if not hasattr(module, "mdl") or not hasattr(module, "rt"):
        # PyPI's unrelated `acl`/`pyacl` packages (network access lists) import under the same name.
        raise AclUnavailableError(
            f"the `acl` module found at {getattr(module, '__file__', '?')} is not CANN's pyACL (it has no acl.rt / "
            f"acl.mdl); uninstall it and {INSTALL_HINT}"
        )
    return module


def recent_error(acl: Any) -> str:
    try:
        return str(acl.get_recent_err_msg() or "")
    except Exception:  # noqa: BLE001 -- the message is a courtesy; the code is what matters
        return ""


def check(acl: Any, ret: int, call: str, where: str = "") -> None:
    """Raise :class:`AclError` unless ``ret`` is ``ACL_SUCCESS``."""
    if ret != 0:
        raise AclError(call, ret, recent_error(acl), where)


def value(acl: Any, result: tuple[Any, ...], call: str, where: str = "") -> Any:
    """The value of a ``(value, ret)`` result, or :class:`AclError`."""
    *values, ret = result
    check(acl, ret, call, where)
    return values[0] if len(values) == 1 else tuple(values)


class DeviceContext:
    """The one ACL context this process keeps on a device (``acl.rt.create_context``)."""

    def __init__(self, acl: Any, device_id: int) -> None:
        self.acl, self.device_id = acl, device_id
        where = f"on device {device_id}"
        check(acl, acl.rt.set_device(device_id), "acl.rt.set_device", where)
        try:
            self.handle = int(value(acl, acl.rt.create_context(device_id), "acl.rt.create_context", where))
        except BaseException:
            acl.rt.reset_device(device_id)
            raise
        self.refs = 0

    def make_current(self) -> None:
        """Make the context current in the calling thread (CANN contexts are per thread)."""
        check(self.acl, self.acl.rt.set_context(self.handle), "acl.rt.set_context", f"on device {self.device_id}")

    def destroy(self) -> None:
        where = f"on device {self.device_id}"
        check(self.acl, self.acl.rt.destroy_context(self.handle), "acl.rt.destroy_context", where)
        check(self.acl, self.acl.rt.reset_device(self.device_id), "acl.rt.reset_device", where)


class Closable(Protocol):
    def close(self) -> None: ...


class Runtime:
    """Process-wide ACL state: ``acl.init`` once, device contexts shared and reference-counted."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._acl: Any = None
        self._refs = 0
        self._finalized = False
        self._devices: dict[int, DeviceContext] = {}
        self._open: weakref.WeakSet[Any] = weakref.WeakSet()

    def acquire(self) -> Any:
        """Initialize ACL if nobody holds it yet; returns the ``acl`` module."""
        with self._lock:
            if self._finalized:
                raise MindInferError(
                    "plugin 'ascend': ACL was already finalized in this process (it finalizes at exit and "
                    "cannot be initialized twice); start a new process"
                )
            if self._acl is None:
                acl = load_acl()
                check(acl, acl.init(), "acl.init")
                self._acl = acl
                atexit.register(self.shutdown)
            self._refs += 1
            return self._acl

    def release(self) -> None:
        """Drop one hold; the last one destroys the device contexts (ACL itself stays up until exit)."""
        with self._lock:
            self._refs -= 1
            if self._refs == 0:
                self._drop_devices()

    def device(self, device_id: int) -> DeviceContext:
        """The device's context, created on first use; pair with :meth:`release_device`."""
        with self._lock:
            acl = self.acquire()
            try:
                ctx = self._devices.get(device_id)
                if ctx is None:
                    ctx = self._devices[device_id] = DeviceContext(acl, device_id)
                ctx.refs += 1
                return ctx
            except BaseException:
                self.release()
                raise

    def release_device(self, ctx: DeviceContext) -> None:
        with self._lock:
            ctx.refs -= 1
            self.release()

    def track(self, obj: Closable) -> None:
        """Close ``obj`` at exit, before ``acl.finalize``, if its owner did not."""
        self._open.add(obj)

    def shutdown(self) -> None:
        """Close what is still open, destroy the contexts and finalize ACL (registered with atexit)."""
        with self._lock:
            for obj in list(self._open):
                try:
                    obj.close()
                except Exception as exc:  # noqa: BLE001 -- at exit, report and keep releasing
                    log.warning("mindinfer ascend: closing %r at exit failed: %s", obj, exc)
            if self._acl is None or self._finalized:
                return
            try:
                self._drop_devices()
                check(self._acl, self._acl.finalize(), "acl.finalize")
            except MindInferError as exc:
                log.warning("mindinfer ascend: %s", exc)
            self._finalized = True

    def _drop_devices(self) -> None:
        devices, self._devices = self._devices, {}
        for ctx in devices.values():
            ctx.destroy()


_RUNTIME = Runtime()


def runtime() -> Runtime:
    """The process's ACL runtime."""
    return _RUNTIME
