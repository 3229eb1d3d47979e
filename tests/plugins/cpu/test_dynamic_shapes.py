"""A model exported with a dynamic batch, run at several batch sizes against MindSpore's stored rows."""

from __future__ import annotations

import mindinfer
import numpy as np
import pytest
from cpu_cases import CASES, assert_matches, inputs, outputs
from mindinfer.backend import Device
from mindinfer_cpu import CpuBackend

DYN = CASES / "model" / "small_cnn_dynamic_batch"


@pytest.mark.parametrize("rows", [[0], [1], [0, 1], [1, 0, 1, 0]], ids=["b1-row0", "b1-row1", "b2", "b4"])
def test_dynamic_batch(rows: list[int], backend: CpuBackend, device: Device) -> None:
    model = mindinfer.load(DYN / "model.mindir")
    assert model.is_dynamic
    exe = backend.compile(model, device, {})
    x, want = inputs(DYN)[0], outputs(DYN)[0]
    # Each sample's output depends only on that sample (inference BatchNorm), so rows of
    # MindSpore's batch-2 output are the reference for any batch assembled from its rows.
    got = exe.run([np.ascontiguousarray(x[rows])])[0]
    assert_matches(got, want[rows], 1e-4, 1e-5, f"rows {rows}")


def test_one_executable_serves_changing_batch_sizes(backend: CpuBackend, device: Device) -> None:
    exe = backend.compile(mindinfer.load(DYN / "model.mindir"), device, {})
    x, want = inputs(DYN)[0], outputs(DYN)[0]
    for rows in ([0, 1], [1], [0, 0, 1], [1]):
        assert_matches(exe.run([x[rows]])[0], want[rows], 1e-4, 1e-5, f"rows {rows}")
