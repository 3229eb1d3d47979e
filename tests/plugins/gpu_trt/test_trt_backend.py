"""Compile and run through the plugin's own code with TensorRT and CUDA stood in for.

The stand-ins (``FakeTensorRTForTests``, ``FakeCudaForTests``) run the prepared ONNX with onnxruntime
on the CPU: these tests check the plugin's bookkeeping -- options, profiles, the engine cache, IO
names, shapes, staging buffers and their reuse, the context pool, GPU-resident inputs and outputs --
and compare the numbers with what MindSpore computed. They say nothing about TensorRT's numbers.
"""

from __future__ import annotations

import threading
from pathlib import Path

import mindinfer
import numpy as np
import pytest
from mindinfer._plugins import PluginRegistry
from mindinfer.errors import InvalidInputError, InvalidOptionError, MindInferError, UnsupportedOpError
from mindinfer_tensorrt._cache import EngineCache
from mindinfer_tensorrt._cuda import GpuArray
from mindinfer_tensorrt.backend import TensorRTBackend
from mindinfer_tensorrt.executable import TensorRTExecutable
from stand_ins import (
    FOREIGN_TIMING,
    H200,
    PLAN_HEADER,
    FakeCudaForTests,
    FakeGpuArrayForTests,
    FakeTensorRTForTests,
    environment,
)
from stored_cases import CASES, inputs, outputs

LENET = CASES / "model" / "lenet5"
DYN = CASES / "model" / "small_cnn_dynamic_batch"
TWO = CASES / "model" / "two_in_two_out"


class Rig:
    """A tensorrt backend wired to the stand-ins, with its own engine cache folder."""

    def __init__(self, tmp: Path, trt: FakeTensorRTForTests | None = None) -> None:
        self.trt = trt or FakeTensorRTForTests()
        self.cuda = FakeCudaForTests()
        self.cache = EngineCache(tmp / "engines")
        self.events: list[str] = []
        self.backend = TensorRTBackend(probe=lambda: environment(self.trt), cuda_factory=self._cuda, cache=self.cache)
        self.registry = PluginRegistry(autoload=False)
        self.registry.register(_Plugin(self.backend), name="tensorrt")

    def _cuda(self, index: int) -> FakeCudaForTests:
        self.events.append(f"cuda device {index}, then {len(self.trt.builds)} build(s)")
        return self.cuda

    def session(self, folder: Path, **options: object) -> mindinfer.Session:
        return mindinfer.Session(folder / "model.mindir", target="gpu", options=options, plugins=self.registry)


class _Plugin:
    def __init__(self, backend: TensorRTBackend) -> None:
        self.backend = backend

    @mindinfer.hookimpl
    def register_backends(self, register):  # type: ignore[no-untyped-def]
        register(self.backend)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def _close(got: list, want: list) -> None:  # type: ignore[type-arg]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_session_on_gpu_matches_mindspore(rig: Rig) -> None:
    sess = rig.session(LENET)
    assert sess.placement.plugin == "tensorrt" and str(sess.placement.device) == "gpu:0 (sm90)"
    _close(sess.run(inputs(LENET)), outputs(LENET))
    (build,) = rig.trt.builds
    assert build["flags"] == 1 << 0  # 10.x: strongly typed
    assert build["pools"] == {} and build["level"] == 3 and build["profiles"] == []
    assert sess._exe.info["engine_source"] == "built"
    assert rig.events == ["cuda device 0, then 0 build(s)"]  # the device is selected before building


def test_tensorrt_11_creates_the_network_with_no_flags(tmp_path: Path) -> None:
    rig = Rig(tmp_path, FakeTensorRTForTests("11.1.0"))
    rig.session(LENET)
    assert rig.trt.builds[0]["flags"] == 0


def test_options_reach_the_builder(rig: Rig) -> None:
    shapes = {"x": {"min": [1, 3, 32, 32], "opt": [4, 3, 32, 32], "max": [8, 3, 32, 32]}}
    name = mindinfer.load(DYN / "model.mindir").inputs[0].name
    sess = rig.session(DYN, workspace=1 << 28, builder_optimization_level=5, shapes={name: shapes["x"]})
    (build,) = rig.trt.builds
    assert build["pools"] == {"WORKSPACE": 1 << 28} and build["level"] == 5
    assert build["profiles"] == [{name: ((1, 3, 32, 32), (4, 3, 32, 32), (8, 3, 32, 32))}]
    _close(sess.run(inputs(DYN)), outputs(DYN))


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"precision": "int8"}, "option precision='int8' is not valid: it accepts one of 'fp32', 'fp16', 'bf16'"),
        ({"workspace": 1024}, "option workspace=1024 is not valid: it accepts int >= 1048576"),
        ({"builder_optimization_level": 7}, "builder_optimization_level=7"),
        ({"shapes": {"x": {"min": [1]}}}, "exactly the keys 'min', 'opt' and 'max'"),
        ({"outputs_on_gpu": "yes"}, "outputs_on_gpu='yes'"),
        ({"max_batch_size": 8}, "unknown option(s) max_batch_size; it accepts: precision, workspace, shapes"),
    ],
)
def test_bad_options_are_refused_naming_the_option(rig: Rig, options: dict, words: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidOptionError) as err:
        rig.session(LENET, **options)
    assert words in str(err.value) and "tensorrt" in str(err.value)
    assert rig.trt.builds == []


def test_dynamic_batch_default_profile_and_out_of_profile_run(rig: Rig) -> None:
    sess = rig.session(DYN)
    (build,) = rig.trt.builds
    ((lo, opt, hi),) = build["profiles"][0].values()
    assert (lo[0], opt[0], hi[0]) == (1, 1, 32)
    (x,) = inputs(DYN)
    _close(sess.run([x]), outputs(DYN))
    _close(sess.run([x[:1]]), [outputs(DYN)[0][:1]])
    big = np.concatenate([x] * 17)  # batch 34 > 32
    with pytest.raises(InvalidInputError) as err:
        sess.run([big])
    text = str(err.value)
    name = sess.inputs[0].name
    assert f"input '{name}' has shape [34,3,32,32], outside the engine's optimization profile" in text
    assert "'shapes'" in text and "'max': [34, 3, 32, 32]" in text


def test_engines_are_cached_and_reused(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.session(LENET)
    (entry,) = rig.cache.entries()
    assert entry.meta["tensorrt"] == "10.9.0" and entry.meta["compute_capability"] == "9.0"
    assert entry.meta["options"]["precision"] == "fp32" and entry.meta["source"].endswith("model.mindir")
    timing = list(rig.cache.folder.glob("timing-10.9.0-sm90-nvidia-h200-stand-in.cache"))  # per GPU model
    assert len(timing) == 1
    again = Rig(tmp_path)  # a new process, the same cache folder
    sess = again.session(LENET)
    assert again.trt.builds == [] and sess._exe.info["engine_source"] == "cache"
    _close(sess.run(inputs(LENET)), outputs(LENET))
    # Another precision is another engine; the timing cache is handed to the builder.
    again.session(LENET, precision="fp16")
    assert len(again.trt.builds) == 1 and again.trt.builds[0]["timing"] is not None
    assert len(again.cache.entries()) == 2


def test_a_timing_cache_from_another_device_is_not_used(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    path = rig.cache.timing_cache_path("10.9.0", (9, 0), H200.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(FOREIGN_TIMING)
    _close(rig.session(LENET).run(inputs(LENET)), outputs(LENET))
    assert rig.trt.builds[0]["timing"] == b""  # timed afresh, not with the other device's timings


def test_cache_option_off_builds_every_time(rig: Rig) -> None:
    rig.session(LENET, cache=False)
    rig.session(LENET, cache=False)
    assert len(rig.trt.builds) == 2 and rig.cache.entries() == []


def test_an_entry_tensorrt_cannot_deserialize_is_rebuilt(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.session(LENET)
    (entry,) = rig.cache.entries()
    # Same bytes hash-wise (metadata rewritten to match), but not a plan TensorRT can read: the
    # stand-in runtime returns None for it as TensorRT does.
    bad = b"garbage that is not a plan" * 10
    rig.cache.store(entry.key, bad, {k: v for k, v in entry.meta.items() if k not in ("size", "sha256", "created")})
    again = Rig(tmp_path)
    sess = again.session(LENET)
    assert len(again.trt.builds) == 1 and sess._exe.info["engine_source"] == "built"
    assert again.cache.load(entry.key).startswith(PLAN_HEADER)  # type: ignore[union-attr]
    _close(sess.run(inputs(LENET)), outputs(LENET))


def test_a_truncated_entry_is_rebuilt(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.session(LENET)
    (entry,) = rig.cache.entries()
    entry.path.write_bytes(entry.path.read_bytes()[:100])
    again = Rig(tmp_path)
    again.session(LENET)
    assert len(again.trt.builds) == 1 and again.cache.entries()[0].size == entry.size


def test_parser_refusal_names_the_primitive_so_fallback_works(tmp_path: Path) -> None:
    rig = Rig(tmp_path, FakeTensorRTForTests(refuse=frozenset({"MaxPool"})))
    with pytest.raises(UnsupportedOpError) as err:
        rig.session(LENET)
    assert err.value.primitive == "MaxPool" and err.value.plugin == "tensorrt"
    assert "TensorRT's ONNX parser refused MaxPool" in str(err.value)
    from mindinfer_cpu.backend import CpuBackend

    rig.registry.register(_Plugin(CpuBackend()), name="cpu")
    sess = mindinfer.Session(LENET / "model.mindir", target="gpu,cpu", plugins=rig.registry)
    assert sess.placement.plugin == "cpu" and "MaxPool" in sess.placement.fallbacks[0].reason


def test_buffers_are_allocated_once_per_shape_and_reused(rig: Rig) -> None:
    sess = rig.session(DYN)
    exe: TensorRTExecutable = sess._exe  # type: ignore[assignment]
    (x,) = inputs(DYN)
    sess.run([x])
    slot = exe._all[0]
    after_first = slot.buffers.allocations
    assert after_first == 4  # input: pinned + device; output: device + pinned
    for _ in range(3):
        sess.run([x])
    sess.run([x[:1]])  # smaller: fits the buffers already there
    assert slot.buffers.allocations == after_first and exe.contexts == 1
    assert slot.context.shape_calls == 2  # only when the shape changed
    sess.run([np.concatenate([x] * 4)])  # bigger: grows input and output once
    assert slot.buffers.allocations == after_first + 4
    kinds = [k for k, _ in rig.cuda.copies]
    assert kinds.count("htod") == 6 and kinds.count("dtoh") == 6


def test_concurrent_runs_each_get_a_context(rig: Rig) -> None:
    sess = rig.session(LENET)
    exe: TensorRTExecutable = sess._exe  # type: ignore[assignment]
    assert exe.thread_safe
    (x,) = inputs(LENET)
    want = outputs(LENET)[0]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []
    original = exe._acquire

    def acquire():  # type: ignore[no-untyped-def]
        slot = original()
        barrier.wait(timeout=10)  # all four threads hold a context at once
        return slot

    exe._acquire = acquire  # type: ignore[method-assign]

    def work() -> None:
        try:
            np.testing.assert_allclose(sess.run([x])[0], want, rtol=1e-4, atol=1e-5)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and exe.contexts == 4
    sess.close()
    assert rig.cuda.blocks == {} and rig.cuda.streams == set()  # everything freed


def test_gpu_resident_inputs_are_bound_without_staging(rig: Rig) -> None:
    sess = rig.session(LENET)
    exe: TensorRTExecutable = sess._exe  # type: ignore[assignment]
    (x,) = inputs(LENET)
    gx = FakeGpuArrayForTests(x, stream=7)
    got = exe.run([gx])
    _close(got, outputs(LENET))
    assert [k for k, _ in rig.cuda.copies] == ["dtoh"]  # no host-to-device copy for the input
    assert exe._all[0].context.addresses[sess.inputs[0].name] == x.ctypes.data
    assert rig.cuda.waits == [(7, exe._all[0].stream)]  # waited for the producer's stream


def test_gpu_resident_inputs_are_checked(rig: Rig) -> None:
    exe = rig.session(LENET)._exe
    (x,) = inputs(LENET)
    with pytest.raises(InvalidInputError, match="expected dtype float32, got float64"):
        exe.run([FakeGpuArrayForTests(x.astype(np.float64))])
    with pytest.raises(InvalidInputError, match="expected shape"):
        exe.run([FakeGpuArrayForTests(x[:, :, :10])])
    wide = np.zeros((x.shape[0], x.shape[1], x.shape[2], x.shape[3] * 2), np.float32)[..., ::2]
    with pytest.raises(InvalidInputError, match="strided GPU array"):
        exe.run([FakeGpuArrayForTests(wide)])


def test_outputs_on_gpu(rig: Rig) -> None:
    sess = rig.session(TWO, outputs_on_gpu=True)
    got = sess._exe.run(inputs(TWO))
    assert all(isinstance(g, GpuArray) for g in got)
    for g, want in zip(got, outputs(TWO)):
        cai = g.__cuda_array_interface__
        assert cai["shape"] == want.shape and cai["typestr"] == want.dtype.str and cai["version"] == 3
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-4, atol=1e-5)
    ptrs = [g.ptr for g in got]
    del got, g
    assert all(p in rig.cuda.freed for p in ptrs)  # a GpuArray frees its memory when it goes


def test_two_inputs_two_outputs_by_name(rig: Rig) -> None:
    sess = rig.session(TWO)
    _close(sess.run(inputs(TWO)), outputs(TWO))
    feeds = dict(zip([s.name for s in sess.inputs], inputs(TWO)))
    _close(sess.run(feeds), outputs(TWO))


def test_session_takes_gpu_arrays_and_returns_them(rig: Rig) -> None:
    sess = rig.session(TWO, outputs_on_gpu=True)
    gpu_inputs = [FakeGpuArrayForTests(a) for a in inputs(TWO)]
    got = sess.run(gpu_inputs)
    assert all(isinstance(g, GpuArray) for g in got)
    _close([g.numpy() for g in got], outputs(TWO))
    assert "htod" not in [k for k, _ in rig.cuda.copies]
    bad = FakeGpuArrayForTests(inputs(TWO)[0].astype(np.float64))
    with pytest.raises(
        InvalidInputError, match=r"expected dtype float32, got float64 \(FakeGpuArrayForTests on the GPU\)"
    ):
        sess.run([bad, gpu_inputs[1]])


def test_a_host_plugin_refuses_gpu_arrays_clearly() -> None:
    sess = mindinfer.Session(LENET / "model.mindir", target="cpu@cpu")
    with pytest.raises(
        InvalidInputError, match="is a FakeGpuArrayForTests in GPU memory, and this target's plugin takes host"
    ):
        sess.run([FakeGpuArrayForTests(inputs(LENET)[0])])


def test_a_data_dependent_output_shape_is_a_clear_error(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = rig.session(LENET)._exe
    import stand_ins

    monkeypatch.setattr(stand_ins._Context, "get_tensor_shape", lambda self, name: (-1, 10))
    with pytest.raises(MindInferError, match="data-dependent shape \\[-1, 10\\].*IOutputAllocator"):
        exe.run(inputs(LENET))


def test_every_stored_case_runs_through_the_plugin_and_matches_mindspore(tmp_path: Path) -> None:
    """All op and model cases: conversion, preparation, profiles and IO bookkeeping (scalars, bools,
    integers, several outputs, control flow) end to end, with the stand-in engine doing the math."""
    from stored_cases import case_json

    rig = Rig(tmp_path)
    ran, refused = 0, {}
    for folder in sorted((CASES / "op").glob("*")) + sorted((CASES / "model").glob("*")):
        if not (folder / "model.mindir").is_file():
            continue
        xs, model = inputs(folder), mindinfer.load(folder / "model.mindir")
        # Dynamic dimensions other than a batch have no default profile: give the case's own shapes.
        shapes = {
            s.name: {"min": list(x.shape), "opt": list(x.shape), "max": list(x.shape)}
            for s, x in zip(model.inputs, xs)
            if s.shape is not None and any(d < 0 for d in s.shape[1:])
        }
        try:
            sess = rig.session(folder, cache=False, shapes=shapes or None)
        except UnsupportedOpError as exc:
            refused[folder.name] = exc.primitive
            continue
        info = case_json(folder)
        rtol, atol = float(info.get("rtol", 1e-4)), float(info.get("atol", 1e-5))
        for got, want in zip(sess.run(xs), outputs(folder)):
            assert got.shape == want.shape and got.dtype == want.dtype, folder.name
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=folder.name)
        ran += 1
    assert ran >= 370
    # Refused, by primitive: integer division computed exactly through float64 (TensorRT would narrow
    # it), and what the converter itself does not lower.
    assert set(refused.values()) <= {"FloorDiv", "DivMod", "DivMods", "BitwiseAndTensor"}, refused


@pytest.mark.parametrize("case", ["lenet5", "small_cnn_bn", "mlp_layernorm_gelu", "transformer_block", "branchy_if"])
def test_fp16_through_the_whole_plugin_keeps_io_dtypes_and_matches_mindspore(rig: Rig, case: str) -> None:
    # The stand-in engine runs the fp16 graph with onnxruntime's CPU half-precision kernels (bf16 has
    # none there; test_trt_prepare checks bf16 with onnx's reference evaluator).
    folder = CASES / "model" / case
    got = rig.session(folder, precision="fp16").run(inputs(folder))
    for g, want in zip(got, outputs(folder)):
        assert g.dtype == want.dtype
        assert float(np.max(np.abs(g - want))) <= 2e-3 * float(np.max(np.abs(want))) + 1e-3
