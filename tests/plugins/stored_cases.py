"""Where both plugins' tests find stored cases (MindSpore's own inputs and outputs) and how they load them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "conformance" / "mindinfer_conformance" / "cases"
ZOO = Path.home() / ".cache" / "mindinfer" / "zoo"


def numbered(folder: Path, prefix: str) -> list[np.ndarray]:
    """``prefix_0.npy``, ``prefix_1.npy``, ... in index order."""
    files = sorted(folder.glob(f"{prefix}_*.npy"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    return [np.load(f) for f in files]


def inputs(folder: Path) -> list[np.ndarray]:
    return numbered(folder, "input")


def outputs(folder: Path) -> list[np.ndarray]:
    return numbered(folder, "output")


def case_json(folder: Path) -> dict[str, Any]:
    path = folder / "case.json"
    return json.loads(path.read_text()) if path.is_file() else {}
