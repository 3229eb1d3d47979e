"""Channel shuffles (ShuffleNet v1 and v2) are recognized and done on NHWC tensors, with MindSpore's answers."""

from __future__ import annotations

from pathlib import Path

import mindinfer
import numpy as np
import pytest
from cpu_cases import CASES, assert_matches, inputs, meta, outputs, tolerances
from mindinfer.backend import Device
from mindinfer.ir import Ref
from mindinfer_cpu import CpuBackend
from mindinfer_cpu.kernels.layout_nhwc import PICK, SPLIT, _channel_shuffle
from mindinfer_cpu.layout import find_shuffles
from mindinfer_cpu.passes import WorkGraph

MODEL = CASES / "model"
# (case, channel shuffles in it, cpu.ChannelShuffle nodes they become)
SHUFFLENETS = [("shufflenet_v1_g3_05_c10", 16, 16), ("shufflenet_v2_x0_5_c10", 13, 26)]


@pytest.mark.parametrize(("name", "shuffles", "nodes"), SHUFFLENETS)
def test_shufflenet_runs_channels_last(
    name: str, shuffles: int, nodes: int, backend: CpuBackend, device: Device
) -> None:
    folder = MODEL / name
    model = mindinfer.load(folder / "model.mindir")
    assert len(find_shuffles(WorkGraph.from_graph(model.main, {}))) == shuffles
    exe = backend.compile(model, device, {})
    ops = [s.op for s in exe.program.main.steps]
    # Only the input is converted: no NCHW round trip around the shuffles, no Reshape/Transpose left.
    assert ops.count("cpu.ChannelShuffle") == nodes
    assert ops.count("cpu.ToNHWC") == 1 and "cpu.ToNCHW" not in ops and "Transpose" not in ops
    info = meta(folder)
    for i, (got, want) in enumerate(zip(exe.run(inputs(folder)), outputs(folder), strict=True)):
        assert_matches(got, want, *tolerances(info, i), f"{name} output {i}")


def test_shuffle_with_an_observed_intermediate_is_left_in_nchw(folder: Path = MODEL / "shufflenet_v2_x0_5_c10") -> None:
    """A Transpose whose result is also a graph output cannot disappear: that shuffle is not rewritten."""
    wg = WorkGraph.from_graph(mindinfer.load(folder / "model.mindir").main, {})
    before = find_shuffles(wg)
    transpose = next(n for n in wg.nodes if n.op == "Transpose")
    wg.outputs.append(Ref(transpose.outputs[0]))
    after = find_shuffles(wg)
    assert len(after) == len(before) - 1
    assert all(transpose.outputs[0] not in s.inner for s in after.values())


def _node(attrs: dict[str, object]) -> mindinfer.ir.Node:
    return mindinfer.ir.Node("shuffle", "cpu.ChannelShuffle", [], ["y"], attrs, [])


@pytest.mark.parametrize(("a", "b"), [(20, 3), (3, 20), (58, 2), (4, 8)])
def test_kernel_is_the_nchw_reshape_transpose(a: int, b: int) -> None:
    """v1's Reshape (B, a, b, H, W), Transpose (0, 2, 1, 3, 4), Reshape (B, C, H, W), on NHWC data."""
    x = np.random.default_rng(a * b).standard_normal((2, a * b, 5, 3)).astype(np.float32)
    want = x.reshape(2, a, b, 5, 3).transpose(0, 2, 1, 3, 4).reshape(2, a * b, 5, 3)
    got = _channel_shuffle(_node({SPLIT: (a, b), PICK: None}), [])(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    np.testing.assert_array_equal(got.transpose(0, 3, 1, 2), want)


@pytest.mark.parametrize("groups", [2, 3, 4])
def test_kernel_picks_are_the_v2_split(groups: int) -> None:
    """v2's Reshape (B*C/g, g, H*W), Transpose (1, 0, 2), Reshape (g, B, C/g, H, W), then x[t] for each t."""
    c = 6 * groups
    x = np.random.default_rng(groups).standard_normal((2, c, 4, 3)).astype(np.float32)
    shuffled = x.reshape(2 * c // groups, groups, 12).transpose(1, 0, 2).reshape(groups, 2, c // groups, 4, 3)
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    for t in range(groups):
        got = _channel_shuffle(_node({SPLIT: (c // groups, groups), PICK: t}), [])(nhwc)
        np.testing.assert_array_equal(got.transpose(0, 3, 1, 2), shuffled[t])
