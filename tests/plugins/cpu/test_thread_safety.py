"""One executable run from many threads at once gives each caller MindSpore's answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import mindinfer
import numpy as np
from cpu_cases import CASES, assert_matches, inputs, outputs
from mindinfer.backend import Device
from mindinfer_cpu import CpuBackend

DYN = CASES / "model" / "small_cnn_dynamic_batch"
BRANCHY = CASES / "model" / "branchy_if"


def test_many_threads_one_executable(backend: CpuBackend, device: Device) -> None:
    exe = backend.compile(mindinfer.load(DYN / "model.mindir"), device, {})
    assert getattr(exe, "thread_safe", False)
    x, want = inputs(DYN)[0], outputs(DYN)[0]
    jobs = [[i % 2] if i % 3 else [1 - i % 2, i % 2] for i in range(48)]

    def work(rows: list[int]) -> tuple[list[int], np.ndarray]:
        return rows, exe.run([x[rows]])[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        for rows, got in pool.map(work, jobs):
            assert_matches(got, want[rows], 1e-4, 1e-5, f"rows {rows}")


def test_many_threads_control_flow(backend: CpuBackend, device: Device) -> None:
    exe = backend.compile(mindinfer.load(BRANCHY / "model.mindir"), device, {})
    ins, want = inputs(BRANCHY), outputs(BRANCHY)[0]
    with ThreadPoolExecutor(max_workers=6) as pool:
        for got in pool.map(lambda _: exe.run(ins)[0], range(24)):
            assert_matches(got, want, 1e-4, 1e-5, "branchy_if")
