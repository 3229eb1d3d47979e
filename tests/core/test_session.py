"""Session over the null backend: load -> target -> compile -> run -> placement, and input checks."""

from __future__ import annotations

import threading
from pathlib import Path

import mindinfer as mi
import numpy as np
import pytest
from mindinfer import BackendUnavailableError, InvalidInputError, MindInferError, Session, UnsupportedOpError
from mindinfer.testing import NullBackend, null_registry

CASES = Path(__file__).resolve().parents[2] / "conformance" / "mindinfer_conformance" / "cases" / "model"
ALL_CASES = sorted(p.name for p in CASES.iterdir() if (p / "model.mindir").is_file())


def case_inputs(case: str) -> list[np.ndarray]:
    return [np.load(CASES / case / f"input_{i}.npy") for i in range(len(list((CASES / case).glob("input_*.npy"))))]


def case_outputs(case: str) -> list[np.ndarray]:
    return [np.load(CASES / case / f"output_{i}.npy") for i in range(len(list((CASES / case).glob("output_*.npy"))))]


def test_corpus_has_the_seven_cases() -> None:
    seven = {"branchy_if", "lenet5", "mlp_layernorm_gelu", "small_cnn_bn", "small_cnn_dynamic_batch"}
    seven |= {"transformer_block", "two_in_two_out"}
    assert seven <= set(ALL_CASES)


@pytest.mark.parametrize("case", ALL_CASES)
def test_whole_path_on_every_corpus_model(case: str) -> None:
    reg = null_registry()
    with Session(CASES / case / "model.mindir", target="null", plugins=reg) as sess:
        outs = sess.run(case_inputs(case))
        expected = case_outputs(case)
        # The null backend computes nothing, but shapes and dtypes come from the model's output
        # specs (dynamic dims from the input): they must agree with what MindSpore produced.
        assert [(o.shape, o.dtype) for o in outs] == [(e.shape, e.dtype) for e in expected]
        assert sess.placement.plugin == "null" and str(sess.placement.device) == "null:0"
        model = sess.model
        assert isinstance(model, mi.Model)
        assert set(sess.placement.assignments()) == {n.name for g in model.graphs for n in g.nodes}
        assert not sess.placement.fallback_taken
    assert reg.backends()[0].compiled[0].closed  # type: ignore[attr-defined]


def test_dict_inputs_and_model_object() -> None:
    model = mi.load(CASES / "two_in_two_out" / "model.mindir")
    sess = Session(model, target="null", plugins=null_registry())
    a, b = case_inputs("two_in_two_out")
    outs = sess.run({"b": b, "a": a})
    assert [o.shape for o in outs] == [(3, 8), (3, 1)]
    assert [s.name for s in sess.inputs] == ["a", "b"] and len(sess.outputs) == 2


# -- input validation ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two() -> Session:
    return Session(CASES / "two_in_two_out" / "model.mindir", target="null", plugins=null_registry())


@pytest.fixture(scope="module")
def dyn() -> Session:
    return Session(CASES / "small_cnn_dynamic_batch" / "model.mindir", target="null", plugins=null_registry())


A = np.zeros((3, 8), np.float32)
B = np.zeros((3, 16), np.float32)


@pytest.mark.parametrize(
    "inputs, fragments",
    [
        ([A], ["takes 2 input(s)", "a: float32[3,8]", "got 1"]),
        ([A, B, B], ["takes 2 input(s)", "got 3"]),
        ({"a": A}, ["missing input(s) 'b'"]),
        ({"a": A, "b": B, "c": B}, ["unknown input 'c'"]),
        ({"a": A, "B": B}, ["unknown input 'B'", "did you mean 'b'", "missing input(s) 'b'"]),
        ([A.astype(np.float64), B], ["input 'a'", "expected dtype float32", "got float64"]),
        ([A, B.astype(np.int32)], ["input 'b'", "expected dtype float32", "got int32"]),
        ([A[None], B], ["input 'a'", "expected rank 2", "got rank 3"]),
        ([A, np.zeros((3, 15), np.float32)], ["input 'b'", "dimension 1 must be 16, got 15", "[3,16]", "[3,15]"]),
        ([A, "hello"], ["input 'b'", "numeric array"]),
        ([[[1.0, 2.0], [3.0]], B], ["input 'a'", "cannot convert"]),
        (A, ["list of arrays", "dict"]),
    ],
)
def test_invalid_inputs_are_named(two: Session, inputs: object, fragments: list[str]) -> None:
    runs = two._exe.runs  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError) as info:
        two.run(inputs)  # type: ignore[arg-type]
    for fragment in fragments:
        assert fragment in str(info.value)
    assert two._exe.runs == runs  # type: ignore[attr-defined]  # nothing ran


def test_dynamic_dims_accept_any_size_but_fixed_ones_are_checked(dyn: Session) -> None:
    for batch in (1, 5):
        (out,) = dyn.run([np.zeros((batch, 3, 32, 32), np.float32)])
        assert out.shape == (batch, 5)
    with pytest.raises(InvalidInputError, match=r"dimension 1 must be 3, got 4 \(expected shape \[\?,3,32,32\]"):
        dyn.run([np.zeros((2, 4, 32, 32), np.float32)])


def test_array_likes_convert_only_cleanly(two: Session) -> None:
    outs = two.run([A.tolist(), B.tolist()])  # Python floats: a same-kind cast to float32
    assert outs[0].shape == (3, 8)
    with pytest.raises(InvalidInputError, match="expected dtype float32"):
        two.run([np.float64(1.0) * A, B])  # an array with its own dtype keeps it and is refused


def test_closed_session_refuses_to_run() -> None:
    sess = Session(CASES / "two_in_two_out" / "model.mindir", target="null", plugins=null_registry())
    sess.close()
    with pytest.raises(MindInferError, match="closed"):
        sess.run([A, B])


# -- threads -------------------------------------------------------------------------------------
def _hammer(sess: Session, n_threads: int = 16, per_thread: int = 50) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)
    inputs = case_inputs("two_in_two_out")

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                outs = sess.run(inputs)
                assert [o.shape for o in outs] == [(3, 8), (3, 1)]
        except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


class _RacyBackend(NullBackend):
    """Its executable detects concurrent runs: it is not thread-safe and says so."""

    def _compile(self, model, device, options):  # type: ignore[no-untyped-def]
        exe = super()._compile(model, device, options)
        inner = exe._run
        state = {"active": 0, "overlaps": 0}
        gate = threading.Lock()

        def run(inputs):  # type: ignore[no-untyped-def]
            with gate:
                state["active"] += 1
                if state["active"] > 1:
                    state["overlaps"] += 1
            try:
                threading.Event().wait(0.0005)  # widen the window a race would need
                return inner(inputs)
            finally:
                with gate:
                    state["active"] -= 1

        exe._run = run  # type: ignore[method-assign]
        exe.state = state  # type: ignore[attr-defined]
        return exe


def test_run_from_many_threads_is_serialized_for_unsafe_executables() -> None:
    backend = _RacyBackend(name="racy")
    sess = Session(CASES / "two_in_two_out" / "model.mindir", target="null", plugins=null_registry(backend))
    assert _hammer(sess) == []
    exe = backend.compiled[0]
    assert exe.runs == 16 * 50
    assert exe.state["overlaps"] == 0  # type: ignore[attr-defined]


def test_thread_safe_executables_run_concurrently() -> None:
    backend = _RacyBackend(name="racy", thread_safe=True)
    sess = Session(CASES / "two_in_two_out" / "model.mindir", target="null", plugins=null_registry(backend))
    assert sess._lock is None
    assert _hammer(sess, n_threads=8, per_thread=20) == []


# -- targets, placement, fallback ------------------------------------------------------------------
def fleet() -> mi.PluginRegistry:
    """A machine with an unusable GPU plugin and two CPU plugins of different priority."""
    return null_registry(
        NullBackend(name="fakegpu", device_kinds=("gpu",), priority=10, usable=False, reason="no CUDA driver found"),
        NullBackend(name="fastcpu", device_kinds=("cpu",), priority=100),
        NullBackend(name="slowcpu", device_kinds=("cpu",), priority=1),
    )


LENET = CASES / "lenet5" / "model.mindir"


def test_bare_kind_picks_highest_priority_usable_plugin() -> None:
    sess = Session(LENET, target="CPU", plugins=fleet())
    assert sess.placement.plugin == "fastcpu"
    assert "highest-priority" in sess.placement.reason
    pinned = Session(LENET, target="cpu@slowcpu", plugins=fleet())
    assert pinned.placement.plugin == "slowcpu" and "pinned" in pinned.placement.reason


def test_plain_gpu_without_usable_gpu_raises_never_falls_back() -> None:
    with pytest.raises(BackendUnavailableError, match=r"'gpu'.*plugins tried: plugin 'fakegpu'.*no CUDA driver found"):
        Session(LENET, target="gpu", plugins=fleet())
    with pytest.raises(BackendUnavailableError, match="no installed plugin provides ascend devices"):
        Session(LENET, target="ascend", plugins=fleet())


def test_device_index_must_exist() -> None:
    with pytest.raises(BackendUnavailableError, match=r"no device matches cpu:3.*cpu:0"):
        Session(LENET, target="cpu:3", plugins=fleet())


def test_fallback_list_is_recorded() -> None:
    sess = Session(LENET, target="gpu,cpu", plugins=fleet())
    p = sess.placement
    assert (p.plugin, p.target, p.requested) == ("fastcpu", "cpu", "gpu,cpu")
    assert p.fallback_taken
    assert [a.target for a in p.fallbacks] == ["gpu"]
    assert "no CUDA driver found" in p.fallbacks[0].reason
    assert "fallback to cpu (alternative 2 of 2)" in str(p)


def test_first_alternative_used_when_usable_records_no_fallback() -> None:
    p = Session(LENET, target="cpu@slowcpu,cpu", plugins=fleet()).placement
    assert p.plugin == "slowcpu" and not p.fallback_taken


def test_fallback_list_with_nothing_usable_names_every_alternative() -> None:
    with pytest.raises(BackendUnavailableError, match=r"no alternative of target 'gpu,ascend'.*gpu.*ascend"):
        Session(LENET, target="gpu,ascend", plugins=fleet())


def test_typo_in_a_fallback_list_is_not_skipped() -> None:
    with pytest.raises(mi.InvalidTargetError, match="'cpux'"):
        Session(LENET, target="cpux,cpu", plugins=fleet())
    with pytest.raises(mi.InvalidTargetError, match="no plugin or backend named 'nope'"):
        Session(LENET, target="cpu@nope,cpu", plugins=fleet())


def test_auto_prefers_accelerators_then_cpu_and_says_so() -> None:
    p = Session(LENET, target="auto", plugins=fleet()).placement
    assert p.plugin == "fastcpu" and "auto chose cpu" in p.reason
    assert [a.plugin for a in p.fallbacks] == ["fakegpu"]
    usable_gpu = null_registry(
        NullBackend(name="realgpu", device_kinds=("gpu",), priority=1),
        NullBackend(name="fastcpu", device_kinds=("cpu",), priority=100),
    )
    p = Session(LENET, target="auto", plugins=usable_gpu).placement
    assert p.plugin == "realgpu" and str(p.device) == "gpu:0" and "auto chose gpu" in p.reason


def test_auto_skips_backends_lacking_primitives_and_bare_kind_records_the_refusal() -> None:
    reg = null_registry(
        NullBackend(name="partial", device_kinds=("cpu",), priority=100, primitives=frozenset({"Conv2D"})),
        NullBackend(name="full", device_kinds=("cpu",), priority=1),
    )
    p = Session(LENET, target="auto", plugins=reg).placement
    assert p.plugin == "full" and "does not support" in p.fallbacks[0].reason
    # A bare kind tries the highest-priority plugin, which refuses at compile time; the next
    # plugin for cpu runs it, and the placement says who refused and why.
    p = Session(LENET, target="cpu", plugins=reg).placement
    assert p.plugin == "full" and [a.plugin for a in p.fallbacks] == ["partial"]
    with pytest.raises(UnsupportedOpError) as info:
        Session(LENET, target="cpu@partial", plugins=reg)
    assert info.value.plugin == "partial"


def test_pinned_plugin_without_that_kind() -> None:
    with pytest.raises(BackendUnavailableError, match="plugin 'fastcpu' has no gpu devices"):
        Session(LENET, target="gpu@fastcpu", plugins=fleet())


def test_backend_returning_wrong_output_count_is_a_plugin_error() -> None:
    class Short(NullBackend):
        def _compile(self, model, device, options):  # type: ignore[no-untyped-def]
            exe = super()._compile(model, device, options)
            exe._outputs = exe._outputs[:1]
            return exe

    sess = Session(CASES / "two_in_two_out" / "model.mindir", target="null", plugins=null_registry(Short()))
    with pytest.raises(mi.PluginError, match="returned 1 outputs, the model has 2"):
        sess.run([A, B])


def test_profiled_run_when_offered() -> None:
    sess = Session(CASES / "two_in_two_out" / "model.mindir", target="null", plugins=null_registry())
    assert sess.can_profile
    outs, records = sess.run_profiled([A, B])
    assert len(outs) == 2 and all(len(r) == 3 for r in records)


def test_missing_model_file() -> None:
    with pytest.raises(mi.MindIRError, match="no such model file"):
        Session("/nonexistent/model.mindir", target="null", plugins=null_registry())


def test_unknown_format_says_no_plugin_opens_it(tmp_path: Path) -> None:
    path = tmp_path / "net.onnx"
    path.write_bytes(b"\x08\x07garbage")
    with pytest.raises(mi.MindIRError, match=r"no installed plugin opens '.onnx' files"):
        Session(path, target="null", plugins=null_registry())
