"""What the runner and the api tier share: the suite configuration and small helpers for results.

Its own module so that :mod:`.runner` and :mod:`.api` both import it and neither imports the other.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mindinfer.backend import Device
from mindinfer.errors import MindInferError

from .cases import TIERS, Case, parse_tiers
from .compare import PRECISIONS, Tolerance, network_tolerance, tolerance_for
from .target import BackendUnderTest

__all__ = ["SuiteConfig", "close_quietly", "describe_error", "device_json", "environment", "tolerance_of"]


@dataclass
class SuiteConfig:
    """How to run: which tiers, the coverage floor, the tolerance policy's precision mode, and the
    options passed to the backend's ``compile`` (e.g. the backend's own switch to fp16)."""

    tiers: tuple[str, ...] = TIERS
    min_coverage: float = 0.0
    precision: str = "fp32"
    options: dict[str, Any] = field(default_factory=dict)
    cases_root: Path | None = None
    #: Keep only cases whose id contains this text.
    select: str | None = None

    def __post_init__(self) -> None:
        self.tiers = parse_tiers(self.tiers)
        if self.precision not in PRECISIONS:
            raise MindInferError(f"unknown precision {self.precision!r}; choose from {', '.join(PRECISIONS)}")
        if not 0.0 <= self.min_coverage <= 1.0:
            raise MindInferError(f"min coverage must be a fraction between 0 and 1, got {self.min_coverage}")

    def compile_options(self) -> dict[str, Any]:
        # ``precision`` only sets the tolerance policy: how a backend is put into a reduced
        # precision is its own option (backends refuse options they do not know).
        return dict(self.options)


def close_quietly(exe: Any) -> None:
    """Close after a check whose subject is not ``close()`` (the api tier checks close itself)."""
    with contextlib.suppress(Exception):
        exe.close()


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def tolerance_of(case: Case, index: int, expected: np.ndarray, precision: str) -> Tolerance:
    """The tolerance for output ``index`` of ``case`` in ``precision`` (the case's own, or the policy's;
    a whole network marked ``"criterion": "network"`` is judged by :data:`~.compare.NETWORK` at fp32)."""
    if case.criterion == "network" and precision == "fp32":
        return network_tolerance(expected.dtype)
    rtol, atol = case.tolerance(index)
    return tolerance_for(expected.dtype, rtol, atol, precision, case.cosine_min)


def device_json(d: Device) -> dict[str, Any]:
    """A device as JSON data for reports (details as text)."""
    data = asdict(d)
    data["details"] = {k: str(v) for k, v in dict(d.details).items()}
    return data


def environment(but: BackendUnderTest) -> dict[str, Any]:
    """What a report says about the run: the backend, its declared capabilities, Python, numpy, machine."""
    info: Mapping[str, Any] = but.describe()
    return {**info, "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine()}
