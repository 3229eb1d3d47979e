"""Helpers for the cpu plugin tests: find stored cases (MindSpore's own inputs/outputs) and compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stored_cases import CASES, ROOT, ZOO, inputs, outputs
from stored_cases import case_json as meta

__all__ = ["CASES", "ROOT", "ZOO", "assert_matches", "case_dirs", "inputs", "meta", "outputs", "tolerances"]


def case_dirs(tier: str) -> list[Path]:
    """Every case folder of a tier ('model' or 'op') that has a model file."""
    base = CASES / tier
    return sorted(d for d in base.iterdir() if (d / "model.mindir").is_file()) if base.is_dir() else []


def tolerances(info: dict[str, Any], index: int, rtol: float = 1e-4, atol: float = 1e-5) -> tuple[float, float]:
    """(rtol, atol) of output ``index``: the output's own entry, else the case's, else the defaults."""
    outs = info.get("outputs") or []
    spec = outs[index] if index < len(outs) and isinstance(outs[index], dict) else {}
    return float(spec.get("rtol", info.get("rtol", rtol))), float(spec.get("atol", info.get("atol", atol)))


def assert_matches(got: Any, want: np.ndarray, rtol: float, atol: float, what: str) -> None:
    """Shape, dtype and values as MindSpore computed them (exact for integer and bool outputs)."""
    got = np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, MindSpore gave {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, MindSpore gave {want.dtype}"
    if want.dtype.kind in "fc":
        g, w = got.astype(np.float64), want.astype(np.float64)
        ok = np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
        with np.errstate(invalid="ignore"):  # inf - inf in the special-value cases
            worst = float(np.max(np.abs(g - w))) if g.size else 0.0
        assert ok, f"{what}: differs from MindSpore (max abs diff {worst:.3g}, rtol={rtol}, atol={atol})"
    else:
        assert np.array_equal(got, want), f"{what}: differs from MindSpore"
