"""A plugin's compile raising, refusing a model, or declining options: wrapped, recorded, moved past.

Issue 18 item 7 and the bare-kind ranking of issue 16: a plugin's bare exception becomes a
PluginError naming it (original as ``__cause__``); a fallback list moves on past it; a bare kind
tries the next plugin of the same kind after an UnsupportedOpError; a pinned plugin never moves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import mindinfer as mi
import numpy as np
import pytest
from mindinfer import PluginError, Session, UnsupportedOpError
from mindinfer.backend import Device, Option
from mindinfer.ir import Model
from mindinfer.testing import NullBackend, NullExecutable, null_registry

LENET = Path(__file__).resolve().parents[2] / "conformance" / "mindinfer_conformance" / "cases" / "model" / "lenet5"
MODEL = LENET / "model.mindir"


class CompileRaises(NullBackend):
    """A backend whose compile raises a plain Python exception (a plugin bug)."""

    def __init__(self, exc: BaseException, **kw: Any) -> None:
        super().__init__(**kw)
        self.exc = exc

    def _compile(self, model: Any, device: Device, options: dict[str, Any]) -> NullExecutable:
        raise self.exc


class RunRaises(NullBackend):
    def _compile(self, model: Any, device: Device, options: dict[str, Any]) -> NullExecutable:
        exe = super()._compile(model, device, options)

        def boom(inputs: Any) -> Any:
            raise NotImplementedError("kernel for this shape not written yet")

        exe.run = boom  # type: ignore[method-assign]
        return exe


class Refuses(NullBackend):
    """Declares every primitive, then refuses one at compile time (as a converter does)."""

    def _compile(self, model: Model, device: Device, options: dict[str, Any]) -> NullExecutable:
        raise UnsupportedOpError("Conv2D", "conv1", self.name, "this form of the primitive has no lowering")


@pytest.mark.parametrize("exc", [ValueError("bad weights"), NotImplementedError("todo"), SystemExit(1)])
def test_compile_raising_a_plain_exception_is_a_plugin_error(exc: BaseException) -> None:
    reg = null_registry(CompileRaises(exc, name="x", device_kinds=("cpu",)))
    with pytest.raises(PluginError, match=rf"plugin 'x' failed to compile.*{type(exc).__name__}") as info:
        Session(MODEL, target="cpu@x", plugins=reg)
    assert info.value.__cause__ is exc


def test_fallback_list_moves_on_after_a_compile_that_raises() -> None:
    reg = null_registry(
        CompileRaises(ValueError("bad weights"), name="x", device_kinds=("cpu",), priority=200),
        NullBackend(name="good", device_kinds=("cpu",), priority=1),
    )
    p = Session(MODEL, target="cpu@x,cpu@good", plugins=reg).placement
    assert p.plugin == "good" and p.target == "cpu@good"
    assert [(a.target, a.plugin) for a in p.fallbacks] == [("cpu@x", None)]
    assert "ValueError: bad weights" in p.fallbacks[0].reason


def test_bare_kind_tries_the_next_plugin_after_a_refusal_and_records_it() -> None:
    reg = null_registry(
        Refuses(name="fast", device_kinds=("cpu",), priority=150),
        NullBackend(name="native", device_kinds=("cpu",), priority=100),
    )
    p = Session(MODEL, target="cpu", plugins=reg).placement
    assert p.plugin == "native"
    assert [(a.target, a.plugin) for a in p.fallbacks] == [("cpu", "fast")]
    assert "Conv2D" in p.fallbacks[0].reason
    assert "refused by plugin(s) 'fast'" in p.reason and "'fast'" in str(p)


def test_bare_kind_moves_past_a_crashing_compile_too() -> None:
    reg = null_registry(
        CompileRaises(IndexError("list index out of range"), name="fast", device_kinds=("cpu",), priority=150),
        NullBackend(name="native", device_kinds=("cpu",), priority=100),
    )
    p = Session(MODEL, target="cpu", plugins=reg).placement
    assert p.plugin == "native" and "IndexError" in p.fallbacks[0].reason


def test_a_pinned_plugin_never_moves() -> None:
    reg = null_registry(
        Refuses(name="fast", device_kinds=("cpu",), priority=150),
        NullBackend(name="native", device_kinds=("cpu",), priority=100),
    )
    with pytest.raises(UnsupportedOpError) as info:
        Session(MODEL, target="cpu@fast", plugins=reg)
    assert info.value.plugin == "fast"


def test_every_plugin_refusing_raises_the_first_and_names_the_rest() -> None:
    reg = null_registry(
        Refuses(name="fast", device_kinds=("cpu",), priority=150),
        Refuses(name="native", device_kinds=("cpu",), priority=100),
    )
    with pytest.raises(UnsupportedOpError, match=r"plugin 'fast'.*also refused by plugin 'native'") as info:
        Session(MODEL, target="cpu", plugins=reg)
    assert info.value.plugin == "fast"


class WithOption(NullBackend):
    options = (Option("tile", int, 8, "a tile size only this plugin has"),)


def test_bare_kind_skips_a_plugin_that_does_not_declare_the_options_given() -> None:
    reg = null_registry(
        NullBackend(name="fast", device_kinds=("cpu",), priority=150),
        WithOption(name="native", device_kinds=("cpu",), priority=100),
    )
    p = Session(MODEL, target="cpu", options={"tile": 4}, plugins=reg).placement
    assert p.plugin == "native"
    # The placement says which plugin was passed over, and why.
    assert [(a.target, a.plugin) for a in p.fallbacks] == [("cpu", "fast")]
    assert "does not accept option(s) tile" in p.fallbacks[0].reason and "passed over 'fast'" in p.reason
    with pytest.raises(mi.InvalidOptionError, match="unknown option"):
        Session(MODEL, target="cpu", options={"nobody": 1}, plugins=reg)


def test_run_raising_a_plain_exception_is_a_plugin_error() -> None:
    sess = Session(MODEL, target="cpu@x", plugins=null_registry(RunRaises(name="x", device_kinds=("cpu",))))
    with pytest.raises(PluginError, match="plugin 'x' failed in run: NotImplementedError") as info:
        sess.run([np.zeros((2, 1, 32, 32), np.float32)])
    assert isinstance(info.value.__cause__, NotImplementedError)


def test_hint_for_a_plugin_without_backends_is_a_target_the_parser_accepts() -> None:
    reg = null_registry(NullBackend(name="real", device_kinds=("cpu",)))
    reg.register(object(), name="commandsonly")  # a plugin registering no backend
    with pytest.raises(mi.BackendUnavailableError) as info:
        Session(MODEL, target="cpu@commandsonly", plugins=reg)
    text = str(info.value)
    assert "'@commandsonly'" not in text and "provides no backend" in text
    for suggestion in ("cpu", "cpu@onnx"):
        assert f"'{suggestion}'" in text
        mi.parse_target(suggestion)


class NoFlags(NullBackend):
    """Compiles to an executable that lacks the contract's declared flags."""

    closed: ClassVar[list[str]] = []

    def _compile(self, model: Any, device: Any, options: dict[str, Any]) -> Any:
        class Bare:
            def run(self, inputs: Any) -> Any:
                return []

            def close(self) -> None:
                NoFlags.closed.append("closed")

        return Bare()


def test_an_executable_breaking_the_contract_is_closed_and_the_next_plugin_runs() -> None:
    NoFlags.closed.clear()
    reg = null_registry(
        NoFlags(name="fast", device_kinds=("cpu",), priority=150),
        NullBackend(name="native", device_kinds=("cpu",), priority=100),
    )
    p = Session(MODEL, target="cpu", plugins=reg).placement
    assert p.plugin == "native" and "without run_profiled" in p.fallbacks[0].reason
    assert NoFlags.closed == ["closed"]
    with pytest.raises(PluginError, match="plugin 'fast'.*without run_profiled"):
        Session(MODEL, target="cpu@fast", plugins=reg)
    assert NoFlags.closed == ["closed", "closed"]
