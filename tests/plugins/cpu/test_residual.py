"""Skip connections (``out += identity``, then ReLU) fused into the convolution before them."""

from __future__ import annotations

import mindinfer
import numpy as np
import pytest
from cpu_cases import CASES, assert_matches, inputs, meta, outputs, tolerances
from mindinfer.backend import Device
from mindinfer_cpu import CpuBackend
from mindinfer_cpu.kernels.activation import relu_
from mindinfer_cpu.kernels.conv import ConvGeom
from mindinfer_cpu.kernels.conv_nhwc import make_conv_nhwc

BLOCKS = CASES / "op" / "resnet_basic_blocks"


def test_resnet_blocks_fuse_and_match_mindspore(backend: CpuBackend, device: Device) -> None:
    exe = backend.compile(mindinfer.load(BLOCKS / "model.mindir"), device, {})
    steps = exe.program.main.steps
    ops = [s.op for s in steps]
    # Both blocks' additions and final ReLUs are gone into convolutions; the second block's identity
    # is computed after its main branch, so that addition goes into the identity's 1x1 convolution.
    assert "InplaceAddExt" not in ops and "ReLU" not in ops
    assert sum(1 for s in steps if s.op == "Conv2D" and len(s.ins) == 3) == 2
    info = meta(BLOCKS)
    for i, (got, want) in enumerate(zip(exe.run(inputs(BLOCKS)), outputs(BLOCKS), strict=True)):
        assert_matches(got, want, *tolerances(info, i), f"resnet_basic_blocks output {i}")


@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize("res_batch", [2, 1])
def test_fused_kernel_equals_conv_then_add(kernel: int, res_batch: int) -> None:
    """Same result as the unfused conv, Add, ReLU; a residual that broadcasts takes the unfused path."""
    rng = np.random.default_rng(kernel)
    w = rng.standard_normal((6, 4, kernel, kernel)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    g = ConvGeom(kernel, kernel, 1, 1, mode="pad", pads=(kernel // 2,) * 4)
    x = rng.standard_normal((2, 5, 7, 4)).astype(np.float32)
    res = rng.standard_normal((res_batch, 5, 7, 6)).astype(np.float32)

    def post(y: np.ndarray) -> np.ndarray:
        y += bias
        return relu_(y)

    plain = make_conv_nhwc(w, 1, g, None)(x)
    want = np.maximum(plain + bias + res, 0)
    got = make_conv_nhwc(w, 1, g, post, residual=True)(x, w, res)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
