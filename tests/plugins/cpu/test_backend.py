"""The cpu backend's contract: capabilities, devices, options, refusals at compile time, profiling."""

from __future__ import annotations

import mindinfer
import numpy as np
import pytest
from cpu_cases import CASES, assert_matches, inputs, outputs
from mindinfer.backend import Device
from mindinfer.errors import InvalidOptionError, MindInferError, MindIRError, PluginError, UnsupportedOpError
from mindinfer.ir import Const, Graph, Model, Node, Ref, TensorSpec
from mindinfer_cpu import KERNELS, CpuBackend

LENET = CASES / "model" / "lenet5"
SMALL_CNN = CASES / "model" / "small_cnn_bn"


def _one_node_model(op: str, attrs: dict | None = None, extra: list | None = None) -> Model:
    x = TensorSpec("x", (1, 2, 4, 4), "float32")
    node = Node("n1", op, [Ref("x"), *(extra or [])], ["y"], attrs or {}, [TensorSpec("y", (1, 2, 4, 4), "float32")])
    return Model(Graph("main", [x], [Ref("y")], [node], output_specs=[TensorSpec("y", (1, 2, 4, 4), "float32")]))


def test_capabilities_are_exactly_the_registered_kernels(backend: CpuBackend) -> None:
    caps = backend.capabilities
    assert caps.primitives == KERNELS.names()
    assert {"Conv2D", "MatMul", "BatchNorm", "LayerNorm", "Softmax", "Gather", "LSTM"} <= caps.primitives
    assert caps.dtypes == frozenset({"float32", "float16", "int32", "int64", "bool"})
    assert caps.dynamic_shapes and caps.control_flow


def test_devices_report_the_real_cpu(backend: CpuBackend) -> None:
    (dev,) = backend.devices()
    assert dev.kind == "cpu" and dev.usable and dev.name
    assert dev.details["cores"] >= 1
    assert backend.name == "cpu" and backend.priority >= 100 and backend.device_kinds == ("cpu",)


def test_registered_through_the_entry_point() -> None:
    names = [b.name for b in mindinfer.get_registry().backends()]
    assert "cpu" in names


def test_undeclared_primitive_raises_at_compile(backend: CpuBackend, device: Device) -> None:
    with pytest.raises(UnsupportedOpError) as err:
        backend.compile(_one_node_model("NoSuchPrimitive"), device, {})
    assert err.value.primitive == "NoSuchPrimitive" and err.value.node == "n1" and err.value.plugin == "cpu"


def test_unsupported_variant_of_a_declared_primitive_raises_at_compile(backend: CpuBackend, device: Device) -> None:
    w = np.ones((2, 2, 1, 1), np.float32)
    attrs = {"kernel_size": (1, 1), "stride": (1, 1), "pad_mode": "valid", "format": "NHWC", "group": 1}
    with pytest.raises(UnsupportedOpError, match="NHWC"):
        backend.compile(_one_node_model("Conv2D", attrs, [Const(w)]), device, {})
    with pytest.raises(UnsupportedOpError, match="is_training"):
        backend.compile(
            _one_node_model(
                "BatchNorm", {}, [Const(np.ones(2, np.float32))] * 4 + [Const(True), Const(1e-5), Const(0.1), Const(0)]
            ),
            device,
            {},
        )


def test_threads_option_is_accepted_and_checked(backend: CpuBackend, device: Device) -> None:
    model = mindinfer.load(LENET / "model.mindir")
    for n in (1, 2):
        exe = backend.compile(model, device, {"threads": n})
        assert_matches(exe.run(inputs(LENET))[0], outputs(LENET)[0], 1e-4, 1e-5, f"lenet5 threads={n}")
    for bad in (0, -1, "2", 1.5):
        with pytest.raises(InvalidOptionError):
            backend.compile(model, device, {"threads": bad})
    with pytest.raises(InvalidOptionError, match="unknown option"):
        backend.compile(model, device, {"thread": 2})


def test_run_profiled_times_every_kernel(backend: CpuBackend, device: Device) -> None:
    exe = backend.compile(mindinfer.load(SMALL_CNN / "model.mindir"), device, {})
    outs, records = exe.run_profiled(inputs(SMALL_CNN))
    assert_matches(outs[0], outputs(SMALL_CNN)[0], 1e-4, 1e-5, "small_cnn_bn profiled")
    assert records and all(isinstance(n, str) and isinstance(op, str) and s >= 0 for n, op, s in records)
    assert {"Conv2D", "MatMul"} <= {op for _, op, _ in records}


def test_batchnorm_bias_and_activation_are_fused(backend: CpuBackend, device: Device) -> None:
    exe = backend.compile(mindinfer.load(SMALL_CNN / "model.mindir"), device, {})
    ops = [s.op for s in exe.program.main.steps]
    # Every BatchNorm follows a Conv2D and every ReLU6 a BatchNorm: all folded into the convolutions.
    assert "BatchNorm" not in ops and "ReLU6" not in ops and "BiasAdd" not in ops
    assert ops.count("Conv2D") == 3
    # The conv region runs channels-last: one conversion of the input, none back (ReduceMean drops H, W).
    assert ops.count("cpu.ToNHWC") == 1 and "cpu.ToNCHW" not in ops
    lenet = backend.compile(mindinfer.load(LENET / "model.mindir"), device, {})
    assert [s.op for s in lenet.program.main.steps].count("ReLU") == 0


def test_closed_executable_refuses_to_run(backend: CpuBackend, device: Device) -> None:
    exe = backend.compile(mindinfer.load(LENET / "model.mindir"), device, {})
    exe.close()
    with pytest.raises(MindInferError, match="closed"):
        exe.run(inputs(LENET))
    with pytest.raises(MindInferError, match="closed"):
        exe.run_profiled(inputs(LENET))


def test_session_pinned_to_the_cpu_plugin() -> None:
    # A bare "cpu" goes to the onnx plugin when onnxruntime is installed (tests/plugins/onnx).
    with mindinfer.Session(LENET / "model.mindir", target="cpu@cpu") as sess:
        assert sess.placement.plugin == "cpu"
        assert_matches(sess.run(inputs(LENET))[0], outputs(LENET)[0], 1e-4, 1e-5, "lenet5 via Session")


def test_run_time_failure_names_the_node(backend: CpuBackend, device: Device) -> None:
    exe = backend.compile(mindinfer.load(LENET / "model.mindir"), device, {})
    with pytest.raises(MindInferError, match="node '") as err:
        exe.run([np.ones((2, 1, 7, 7), np.float32)])  # too small for two 5x5 convs and pools
    assert not isinstance(err.value, UnsupportedOpError)


def test_round_with_decimals_is_refused_not_ignored(backend: CpuBackend, device: Device) -> None:
    # MindSpore 2.10's CPU kernel refuses decimals != 0 (tools/op_cases_failures.json), so there is
    # no reference for it; the kernel used to ignore the argument and return round(x).
    with pytest.raises(UnsupportedOpError, match="decimals=2"):
        backend.compile(_one_node_model("Round", extra=[Const(2)]), device, {})
    exe = backend.compile(_one_node_model("Round", extra=[Const(0)]), device, {})
    x = np.linspace(-2.5, 2.5, 32, dtype=np.float32).reshape(1, 2, 4, 4)
    np.testing.assert_array_equal(exe.run([x])[0], np.round(x))


def test_a_bug_in_a_pass_is_the_plugins_error_not_the_files(
    backend: CpuBackend, device: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception no check anticipated goes up as it is; core's wrapper makes it a PluginError naming
    the plugin, not a MindIRError blaming the model file."""
    import mindinfer_cpu.runtime

    def broken(wg: object) -> object:
        raise ValueError("a pass tripped over itself")

    monkeypatch.setattr(mindinfer_cpu.runtime, "optimize", broken)
    model = mindinfer.load(LENET / "model.mindir")
    with pytest.raises(ValueError, match="tripped"):
        backend.compile(model, device, {})
    with pytest.raises(PluginError, match=r"plugin 'cpu' failed to compile.*ValueError: a pass tripped") as err:
        mindinfer.Session(model, target="cpu@cpu")
    assert not isinstance(err.value, MindIRError)
    assert isinstance(err.value.__cause__, ValueError)


def _div_mod_model(mode: object) -> Model:
    x = TensorSpec("x", (5,), "float32")
    y = TensorSpec("y", (5,), "float32")
    node = Node("d", "DivMod", [Ref("x"), Const(np.float32(2.0)), Const(mode)], ["y"], out_specs=[y])
    return Model(Graph("main", [x], [Ref("y")], [node], output_specs=[y]))


@pytest.mark.parametrize("target", ["cpu@cpu", "cpu@onnx"])
def test_rounding_mode_is_read_as_core_decodes_it(target: str) -> None:
    """MindSpore's code (1 trunc, 2 floor) and a 1.x-style name read alike; a mode division does not take
    (3, ceil, which core knows) is refused by name."""
    x = np.array([-3.0, -1.0, 0.5, 1.0, 3.0], np.float32)
    for mode, want in ((1, np.trunc(x / 2)), ("TRUNC", np.trunc(x / 2)), (2, np.floor(x / 2)), (None, x / 2)):
        with mindinfer.Session(_div_mod_model(mode), target=target) as sess:
            np.testing.assert_array_equal(sess.run([x])[0], want, err_msg=f"rounding_mode={mode!r}")
    with pytest.raises(UnsupportedOpError, match="rounding_mode='ceil'"):
        mindinfer.Session(_div_mod_model(3), target=target)
