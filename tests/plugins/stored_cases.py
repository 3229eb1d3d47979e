"""Where both plugins' tests find stored cases (MindSpore's own inputs and outputs) and how they load them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "conformance" / "mindinfer_conformance" / "cases"
ZOO = Path.home() / ".cache" / "mindinfer" / "zoo"
#: Networks from MindSpore's model libraries, exported by tools/make_realworld.py (opt-in: -m realworld).
REALWORLD = Path(os.environ.get("MINDINFER_REALWORLD_DIR", Path.home() / ".cache" / "mindinfer" / "realworld"))


def realworld_cases() -> list[Path]:
    """Every ``<network>/b1`` folder of the real-world cache that holds a model."""
    return sorted(p for p in REALWORLD.glob("*/b*") if (p / "model.mindir").is_file()) if REALWORLD.is_dir() else []


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
