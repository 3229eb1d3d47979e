"""The whole-network check of a zoo or real-world network against MindSpore's stored output, shared by
both plugins' opt-in tests.

``max|ours - MindSpore| <= 1e-4 + 1e-3 * max|MindSpore|`` and cosine similarity >= 0.99999, the
conformance suite's ``"criterion": "network"`` (one implementation: ``mindinfer_conformance.compare``).
An element-wise ``allclose(rtol=1e-3, atol=1e-4)`` cannot be met in float32 on deep random-weight
networks: MindSpore's own output misses its float64 result that way (``tools/zoo_precision.md``).
Integer and bool outputs (a detector's indices, for one) must match exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mindinfer
import numpy as np
from mindinfer_conformance.compare import compare, network_tolerance
from stored_cases import inputs, outputs


def check_against_mindspore(index: int, got: np.ndarray, want: np.ndarray, where: str) -> None:
    """Assert the whole-network criterion on output ``index``."""
    result = compare(np.asarray(got), want, network_tolerance(want.dtype), index)
    assert result.ok, f"{where}: {result.message}"


def check_outputs(got: Sequence[np.ndarray], want: Sequence[np.ndarray], where: str) -> None:
    """Assert the output count, then the whole-network criterion on every output."""
    assert len(got) == len(want), f"{where}: {len(got)} outputs, MindSpore has {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        check_against_mindspore(i, g, w, where)


def check_session(folder: Path, target: str) -> None:
    """Run a stored network on ``target`` (2 threads) and check every output against MindSpore's."""
    with mindinfer.Session(folder / "model.mindir", target=target, options={"threads": 2}) as sess:
        got = sess.run(inputs(folder))
    check_outputs(got, outputs(folder), str(folder))
