"""A cpu@onnx run stops through onnxruntime's RunOptions.terminate: time limit and cancel()."""

from __future__ import annotations

import threading
import time

import mindinfer as mi
import numpy as np
import pytest
from stored_cases import CASES, inputs

WHILE = CASES / "op" / "cf_while_tensor_trip"  # x doubles until |x|.sum() >= limit


def _endless() -> list[np.ndarray]:
    ins = inputs(WHILE)
    ins[0] = np.zeros_like(ins[0])  # zeros never grow: the ONNX Loop never exits
    return ins


def test_time_limit_terminates_an_endless_loop() -> None:
    sess = mi.Session(WHILE / "model.mindir", target="cpu@onnx")
    t0 = time.monotonic()
    with pytest.raises(mi.RunCancelledError, match="plugin 'onnx': the run was stopped: it ran past its time limit"):
        sess.run(_endless(), timeout=0.3)
    assert time.monotonic() - t0 < 30
    want = np.load(WHILE / "output_0.npy")
    np.testing.assert_allclose(sess.run(inputs(WHILE), timeout=60)[0], want, rtol=1e-4, atol=1e-5)


def test_cancel_terminates_an_endless_loop() -> None:
    sess = mi.Session(WHILE / "model.mindir", target="cpu@onnx")
    opts = mi.RunOptions()
    threading.Timer(0.2, opts.cancel).start()
    with pytest.raises(mi.RunCancelledError, match="cancelled"):
        sess.run(_endless(), run_options=opts)
