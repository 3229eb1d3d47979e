"""Probing Ascend devices: count, SoC and memory through pyACL, or the exact reason none is usable."""

from __future__ import annotations

import os
import re
from typing import Any

from mindinfer.backend import Device
from mindinfer.errors import MindInferError

from . import precision
from ._acl import (
    ACL_DDR_MEM,
    ACL_HBM_MEM,
    ERROR_NAMES,
    AclUnavailableError,
    recent_error,
    runtime,
    simulated,
)
from .atc import atc_command, missing_atc_reason

__all__ = ["HARDWARE_NOTE", "cann_version", "chip_of", "probe"]

#: Said by every device this plugin reports: nobody has run it on a real NPU yet.
HARDWARE_NOTE = (
    "this plugin has never run on Ascend hardware: it is written against CANN's documentation and samples "
    "and tested only against mindinfer's ACL simulator"
)
_SOC_RE = re.compile(r"^ascend(\d{3})([a-z]?)")


def chip_of(soc: str) -> str:
    """``Ascend310P3`` -> ``ascend310p``; ``Ascend910B3`` -> ``ascend910b``; ``Ascend910_9391`` -> ``ascend910_93``."""
    low = soc.strip().lower()
    if low.startswith("ascend910_93"):
        return "ascend910_93"
    m = _SOC_RE.match(low)
    return "ascend" + m.group(1) + m.group(2) if m else low


def cann_version(acl: Any) -> str:
    """What identifies the installed CANN for the .om cache: pyACL's API version and the toolkit folder."""
    parts = []
    get_version = getattr(acl, "get_version", None)  # absent from old pyACL: the folder still identifies it
    if get_version is not None:
        major, minor, patch, ret = get_version()
        if ret == 0:
            parts.append(f"acl {major}.{minor}.{patch}")
    home = os.environ.get("ASCEND_TOOLKIT_HOME") or os.environ.get("ASCEND_HOME_PATH")
    if home:
        parts.append(os.path.realpath(home))  # .../ascend-toolkit/latest resolves to the versioned folder
    if simulated():
        parts.append("simulated")
    return "; ".join(parts) or "unknown"


def _unusable(reason: str, index: int = 0, **details: Any) -> Device:
    return Device(
        "ascend", index, "Ascend NPU", usable=False, reason=reason, details={**details, "hardware": HARDWARE_NOTE}
    )


def probe() -> list[Device]:
    """Every Ascend device pyACL sees, or one unusable device saying exactly why there is none."""
    rt = runtime()
    try:
        acl = rt.acquire()
    except AclUnavailableError as exc:
        return [_unusable(str(exc))]
    except MindInferError as exc:
        return [_unusable(f"ACL could not be initialized: {exc}")]
    try:
        return _probe(acl)
    finally:
        rt.release()


def _probe(acl: Any) -> list[Device]:
    atc = atc_command()
    count, ret = acl.rt.get_device_count()
    if ret != 0:
        name = ERROR_NAMES.get(ret, "driver error")
        return [
            _unusable(
                f"the NPU driver returned error {ret} ({name}) from acl.rt.get_device_count: "
                f"{recent_error(acl) or 'no message'}; check the driver with `npu-smi info`"
            )
        ]
    if count == 0:
        return [
            _unusable("no Ascend device found (acl.rt.get_device_count() is 0); check the driver with `npu-smi info`")
        ]
    version = cann_version(acl)
    devices = []
    for index in range(int(count)):
        try:
            soc, free, total = _query(acl, index)
        except MindInferError as exc:
            devices.append(_unusable(f"the driver returned an error for device {index}: {exc}", index))
            continue
        chip = chip_of(soc)
        details: dict[str, Any] = {
            "soc_version": soc,
            "memory_total_mb": total // 2**20,
            "memory_free_mb": free // 2**20,
            "cann": version,
            "precision_auto": precision.explain(chip),
            "hardware": HARDWARE_NOTE,
        }
        if simulated():
            details["simulated"] = True
        name = f"{soc} (SIMULATED by mindinfer's ACL simulator)" if simulated() else soc
        reason = "" if atc else missing_atc_reason()
        devices.append(Device("ascend", index, name, usable=atc is not None, reason=reason, chip=chip, details=details))
    return devices


def _query(acl: Any, index: int) -> tuple[str, int, int]:
    rt = runtime()
    ctx = rt.device(index)
    try:
        ctx.make_current()
        soc = acl.get_soc_name()
        if not soc:
            raise MindInferError(f"acl.get_soc_name() returned nothing: {recent_error(acl) or 'no message'}")
        free = total = 0
        for attr in (ACL_HBM_MEM, ACL_DDR_MEM):  # HBM on 910-class chips, DDR on 310-class ones
            free, total, ret = acl.rt.get_mem_info(attr)
            if ret == 0 and total > 0:
                break
        return str(soc), int(free), int(total)
    finally:
        rt.release_device(ctx)
