"""The backend contract's shared parts: capability check, op table, messages, declared behaviour, resolver."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from mindinfer.backend import Capabilities, Device, ExecutableBase, OpTable, check_executable, plugin_message
from mindinfer.errors import PluginError, UnsupportedOpError
from mindinfer.ir import Graph, Model, Node, Ref, TensorSpec
from mindinfer.targets import candidates, parse_target, pick_device
from mindinfer.testing import NullBackend


def _model(op: str = "ReLU", dtype: str = "float32", shape: tuple[int, ...] = (2,)) -> Model:
    x, y = TensorSpec("x", shape, dtype), TensorSpec("y", shape, dtype)
    return Model(Graph("main", [x], [Ref("y")], [Node("n1", op, [Ref("x")], ["y"])], output_specs=[y]))


def test_missing_lists_primitives_dtypes_and_flags_with_where_they_come_from() -> None:
    caps = Capabilities(primitives=frozenset({"ReLU"}))
    assert caps.missing(_model()) == []
    gaps = caps.missing(_model("Erf", "float64", (-1,)))
    assert [str(g) for g in gaps] == ["primitive Erf", "dtype float64", "dynamic shapes"]
    assert gaps[0].where == ("n1",) and gaps[1].where == ("x", "y")


def test_compile_enforces_declared_dtypes() -> None:
    backend = NullBackend(primitives=frozenset({"ReLU"}))
    device = backend.devices()[0]
    backend.compile(_model(), device, {})
    with pytest.raises(UnsupportedOpError, match=r"dtype uint16.*declared dtypes: bool, float16"):
        backend.compile(_model(dtype="uint16"), device, {})


def test_op_table_names_feed_capabilities_and_refuse_duplicates() -> None:
    ops: OpTable[Any] = OpTable("demo")

    @ops.register("ReLU", "ReLU6")
    def relu(x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0)

    assert ops.names() == frozenset({"ReLU", "ReLU6"}) and ops["ReLU"] is relu and "ReLU6" in ops
    with pytest.raises(PluginError, match=r"plugin 'demo': primitive 'ReLU' registered twice"):
        ops.register("ReLU")(lambda x: x)


def test_plugin_message_is_the_one_prefix() -> None:
    assert plugin_message("cpu", "device cpu:0 is busy") == "plugin 'cpu': device cpu:0 is busy"


def test_optional_behaviour_is_declared_with_defaults() -> None:
    class Exe(ExecutableBase):
        def _run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
            return inputs

    exe = Exe(1, "demo")
    assert exe.thread_safe is False and exe.can_profile is False
    with pytest.raises(Exception, match="offers no profile"):
        exe.run_profiled([np.zeros(1)])
    assert check_executable(exe, "demo") is exe

    class Bare:
        def run(self, inputs: Any) -> Any:
            return inputs

    with pytest.raises(
        PluginError,
        match=r"plugin 'demo': .*without run_profiled, close, thread_safe, can_profile, cancellable, accepts_device_arrays",
    ):
        check_executable(Bare(), "demo")


def test_candidates_and_pick_device_are_the_one_resolver() -> None:
    low = NullBackend(name="low", device_kinds=("cpu",), priority=1)
    high = NullBackend(name="high", device_kinds=("cpu",), priority=9)
    gpu = NullBackend(name="gpu", device_kinds=("gpu",), priority=0, usable=False, reason="no driver")
    alt = parse_target("cpu").alternatives[0]
    assert [b.name for _, b in candidates(alt, [low, high, gpu])] == ["high", "low"]
    auto = parse_target("auto").alternatives[0]
    assert [k for k, _ in candidates(auto, [low, gpu])] == ["gpu", "cpu"]
    assert isinstance(pick_device(high, "cpu", alt), Device)
    assert "no driver" in str(pick_device(gpu, "gpu", parse_target("gpu").alternatives[0]))
