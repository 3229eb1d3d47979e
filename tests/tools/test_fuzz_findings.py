"""Every finding of the reliability fuzz (issue 18), as a regression test on both plugins.

Each test builds its malformed file with the fuzz harness's own mutators, so a finding here and a
mutant class there are the same thing.
"""

from __future__ import annotations

import os
import random
import threading
import tracemalloc
from pathlib import Path

import mindinfer as mi
import numpy as np
import pytest
from mindinfer._proto import mind_ir_pb2 as pb
from mindinfer_fuzz.harness import CASES
from mindinfer_fuzz.mutate import make_external, make_recursion

TARGETS = ["cpu@cpu", "cpu@onnx"]


def _proto(case: str) -> pb.ModelProto:
    folder = CASES / "model" / case if (CASES / "model" / case).exists() else CASES / "op" / case
    m = pb.ModelProto()
    m.ParseFromString((folder / "model.mindir").read_bytes())
    return m


def _inputs(case: str) -> list[np.ndarray]:
    folder = CASES / "model" / case if (CASES / "model" / case).exists() else CASES / "op" / case
    return [np.load(p) for p in sorted(folder.glob("input_*.npy"))]


def _write(folder: Path, m: pb.ModelProto) -> Path:
    path = folder / "model.mindir"
    path.write_bytes(m.SerializeToString())
    return path


# -- 1. recursion with no base case: refused at compile, naming the graph --------------------------
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind", ["self", "mutual", "own_inputs"])
def test_unguarded_recursion_is_refused_at_compile(tmp_path: Path, kind: str, target: str) -> None:
    m = _proto("two_in_two_out")
    make_recursion(m, kind, random.Random(0))
    path = _write(tmp_path, m)
    model = mi.load(path)  # loading is fine: the file is well-formed protobuf
    graph = "fuzz_ping" if kind == "mutual" else "fuzz_self"
    with pytest.raises(mi.MindIRError, match=f"graph '{graph}' recurses with no Switch"):
        mi.Session(model, target=target)


@pytest.mark.parametrize("target", TARGETS)
def test_loop_calling_itself_directly_is_refused(tmp_path: Path, target: str) -> None:
    """A while-loop body retargeted to call itself instead of the loop header."""
    m = _proto("cf_while_counter")
    make_recursion(m, "retarget", random.Random(3))
    with pytest.raises(mi.MindIRError, match="recurses with no Switch"):
        mi.Session(_write(tmp_path, m), target=target)


@pytest.mark.parametrize("target", TARGETS)
def test_real_loops_and_branches_are_not_refused(target: str) -> None:
    for case in ("cf_while_counter", "cf_while_tensor_trip", "cf_nested_if_in_while", "cf_if_elif_else"):
        folder = CASES / "op" / case
        with mi.Session(folder / "model.mindir", target=target) as sess:
            want = np.load(folder / "output_0.npy")
            np.testing.assert_allclose(sess.run(_inputs(case))[0], want, rtol=1e-4, atol=1e-5)


def test_loop_that_never_exits_meets_the_iteration_limit(tmp_path: Path) -> None:
    m = _proto("cf_while_counter")
    make_recursion(m, "always_true", random.Random(0))
    sess = mi.Session(_write(tmp_path, m), target="cpu@cpu", options={"max_loop_iterations": 500})
    with pytest.raises(mi.MindInferError, match=r"the loop through graph '.*' .*ran more than 500 iterations"):
        sess.run(_inputs("cf_while_counter"))


@pytest.mark.parametrize("target", TARGETS)
def test_loop_that_never_exits_stops_at_the_time_limit(tmp_path: Path, target: str) -> None:
    m = _proto("cf_while_counter")
    make_recursion(m, "always_true", random.Random(0))
    options = {"max_loop_iterations": 1 << 40} if target == "cpu@cpu" else {}
    sess = mi.Session(_write(tmp_path, m), target=target, options=options)
    with pytest.raises(mi.RunCancelledError, match="time limit of 0.3 s"):
        sess.run(_inputs("cf_while_counter"), timeout=0.3)


# -- 2, 3. external data: only regular files, and a symlink loop is a MindIRError -------------------
def _load_in_thread(path: Path, unblock: Path | None) -> BaseException | None:
    """Load ``path`` in a thread; if it blocks on the FIFO ``unblock``, open its other end and fail."""
    box: list[BaseException | None] = [None]

    def work() -> None:
        try:
            mi.load(path)
        except BaseException as exc:  # noqa: BLE001 -- handed to the test
            box[0] = exc

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive() and unblock is not None:
        fd = os.open(unblock, os.O_WRONLY | os.O_NONBLOCK)  # releases the blocked reader
        os.close(fd)
        t.join(10)
        pytest.fail(f"loading {path} blocked on the FIFO {unblock}")
    return box[0]


def test_external_data_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    m = _proto("lenet5")
    make_external(m, tmp_path, "fifo", random.Random(0))
    exc = _load_in_thread(_write(tmp_path, m), tmp_path / "net_variables" / "pipe")
    assert isinstance(exc, mi.MindIRError) and "not a regular file" in str(exc), exc


def test_model_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "model.mindir")
    exc = _load_in_thread(tmp_path / "model.mindir", tmp_path / "model.mindir")
    assert isinstance(exc, mi.MindIRError) and "not a regular file" in str(exc), exc


@pytest.mark.parametrize("kind", ["self_symlink", "symlink_loop", "dev_zero", "directory", "dangling"])
def test_external_data_odd_files_are_mindir_errors(tmp_path: Path, kind: str) -> None:
    m = _proto("lenet5")
    make_external(m, tmp_path, kind, random.Random(0))
    with pytest.raises(mi.MindIRError, match="external"):
        mi.load(_write(tmp_path, m))


@pytest.mark.parametrize("target", TARGETS)
def test_external_data_valid_still_runs(tmp_path: Path, target: str) -> None:
    m = _proto("lenet5")
    make_external(m, tmp_path, "valid", random.Random(0))
    with mi.Session(_write(tmp_path, m), target=target) as sess:
        want = np.load(CASES / "model" / "lenet5" / "output_0.npy")
        np.testing.assert_allclose(sess.run(_inputs("lenet5"))[0], want, rtol=1e-4, atol=1e-5)


# -- 4. parameter shapes checked against their uses before any pass -------------------------------
def _param(m: pb.ModelProto, suffix: str) -> pb.TensorProto:
    return next(t for t in m.graph.parameter if t.name.endswith(suffix))


@pytest.mark.parametrize("target", TARGETS)
def test_batchnorm_beta_with_no_elements(tmp_path: Path, target: str) -> None:
    m = _proto("small_cnn_bn")
    beta = next(t for t in m.graph.parameter if t.name.endswith("beta"))
    del beta.dims[:]
    beta.dims.append(0)
    beta.raw_data = b""
    short = beta.name.split(":")[-1]
    with pytest.raises(mi.MindIRError, match=f"parameter '{short}' has shape \\[0\\], but node '.*' \\(BatchNorm\\)"):
        mi.Session(_write(tmp_path, m), target=target)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", ["lenet5", "small_cnn_bn"])
def test_conv_weight_declared_1d(tmp_path: Path, case: str, target: str) -> None:
    m = _proto(case)
    w = next(t for t in m.graph.parameter if len(t.dims) == 4)
    n = int(np.prod(list(w.dims)))
    del w.dims[:]
    w.dims.append(n)
    with pytest.raises(mi.MindIRError, match=r"needs a 4-D weight"):
        mi.Session(_write(tmp_path, m), target=target)


@pytest.mark.parametrize("case", ["mlp_layernorm_gelu", "lenet5"])
def test_dense_bias_of_wrong_length(tmp_path: Path, case: str) -> None:
    m = _proto(case)
    bias = next(t for t in m.graph.parameter if len(t.dims) == 1 and t.dims[0] > 2 and "bias" in t.name)
    keep = bias.dims[0] // 2
    bias.dims[0] = keep
    bias.raw_data = bias.raw_data[: keep * 4]
    for target in TARGETS:
        with pytest.raises(mi.MindIRError, match="one value per channel"):
            mi.Session(_write(tmp_path, m), target=target)


def test_a_large_inconsistent_weight_allocates_little(tmp_path: Path) -> None:
    """A big conv weight declared 1-D used to make the fusion pass broadcast it into gigabytes."""
    m = _proto("small_cnn_bn")
    w = next(t for t in m.graph.parameter if len(t.dims) == 4)
    big = 1 << 21  # 8 MB of float32
    del w.dims[:]
    w.dims.append(big)
    w.raw_data = bytes(4 * big)
    path = _write(tmp_path, m)
    tracemalloc.start()
    try:
        with pytest.raises(mi.MindIRError):
            mi.Session(path, target="cpu@cpu")  # the native plugin's fusion pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"compile allocated {peak >> 20} MB for an 8 MB weight"


# -- 5. a node with too few inputs for its primitive ------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("op", ["Conv2D", "MatMul", "BatchNorm"])
def test_load_node_turned_into_another_primitive(tmp_path: Path, target: str, op: str) -> None:
    m = _proto("lenet5")
    node = next(n for n in m.graph.node if n.op_type.startswith("REF::") and "Load" in n.op_type)
    node.op_type = op  # MindSpore 1.x style: primitive named on the node
    with pytest.raises(mi.MindIRError, match=rf"\({op}\) has 1 input\(s\) but lacks the required argument"):
        mi.Session(_write(tmp_path, m), target=target)
