"""Plugin discovery and isolation, through real entry points of throwaway distributions on sys.path."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mindinfer as mi
import numpy as np
import pytest
from mindinfer import PluginError, PluginRegistry, Session
from mindinfer.ir import ForeignModel, TensorSpec
from mindinfer.testing import NullBackend, NullPlugin

CASES = Path(__file__).resolve().parents[2] / "conformance" / "mindinfer_conformance" / "cases" / "model"

GOOD = """
import mindinfer
from mindinfer.testing import NullBackend

@mindinfer.hookimpl
def register_backends(register):
    register(NullBackend(name="{name}_backend"))
"""
BROKEN_IMPORT = "raise ImportError('libfoo.so.3: cannot open shared object file')\n"
RAISES_IN_HOOK = """
import mindinfer

@mindinfer.hookimpl
def register_backends(register):
    raise RuntimeError("probe of the accelerator crashed")
"""
BAD_CONTRACT = """
import mindinfer
from mindinfer.testing import NullBackend

class Future(NullBackend):
    contract_version = 99

@mindinfer.hookimpl
def register_backends(register):
    register(Future(name="{name}_backend"))
"""
BAD_SIGNATURE = """
import mindinfer

@mindinfer.hookimpl
def register_backends(register, not_a_hook_argument):
    pass
"""
MISSPELLED_HOOK = """
import mindinfer

@mindinfer.hookimpl
def register_backend(register):
    pass
"""
NOT_A_BACKEND = """
import mindinfer

@mindinfer.hookimpl
def register_backends(register):
    register(object())
"""

Install = Callable[[dict[str, str]], dict[str, str]]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Install:
    """Write a distribution with one module per plugin and its entry points; put it on sys.path.

    Returns a function taking ``{plugin name: module source}`` and returning the module names.
    """
    monkeypatch.delenv("MINDINFER_PLUGINS", raising=False)
    monkeypatch.delenv("MINDINFER_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(plugins: dict[str, str]) -> dict[str, str]:
        tag = uuid.uuid4().hex[:8]
        modules = {name: f"mi_fake_{name}_{tag}" for name in plugins}
        for name, source in plugins.items():
            (tmp_path / f"{modules[name]}.py").write_text(source.replace("{name}", name))
        dist = tmp_path / f"mi_fake_{tag}-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mi-fake-{tag}\nVersion: 1.0\n")
        lines = "\n".join(f"{name} = {mod}" for name, mod in modules.items())
        (dist / "entry_points.txt").write_text(f"[mindinfer.backends]\n{lines}\n")
        return modules

    return write


def test_a_broken_plugin_is_recorded_and_others_keep_working(install: Install) -> None:
    install(
        {
            "good": GOOD,
            "broken": BROKEN_IMPORT,
            "raiser": RAISES_IN_HOOK,
            "future": BAD_CONTRACT,
            "badsig": BAD_SIGNATURE,
            "notabackend": NOT_A_BACKEND,
            "misspelled": MISSPELLED_HOOK,
        }
    )
    reg = PluginRegistry()
    info = {p.name: p for p in reg.plugins}
    assert info["good"].status == "loaded"
    assert [b.name for b in info["good"].backends] == ["good_backend"]
    assert info["good"].distribution.startswith("mi-fake-") and info["good"].version == "1.0"
    for name in ("broken", "raiser", "future", "badsig", "notabackend", "misspelled"):
        assert info[name].status == "failed", name
        assert info[name].backends == []
    assert isinstance(info["broken"].error, ImportError)
    assert isinstance(info["raiser"].error, RuntimeError)
    assert "contract version 99" in str(info["future"].error)
    assert "not_a_hook_argument" in str(info["badsig"].error)
    assert "lacks" in str(info["notabackend"].error)
    assert "register_backend" in str(info["misspelled"].error)
    # Nothing of a failed plugin leaks into the backends.
    assert [b.name for b in reg.backends() if b.name.endswith("_backend")] == ["good_backend"]

    model = mi.load(CASES / "two_in_two_out" / "model.mindir")
    with Session(model, target="null@good", plugins=reg) as sess:
        outs = sess.run([np.ones((3, 8), np.float32), np.ones((3, 16), np.float32)])
    assert [o.shape for o in outs] == [(3, 8), (3, 1)]
    assert sess.placement.plugin == "good_backend"


@pytest.mark.parametrize(
    "name, original, text",
    [
        ("broken", ImportError, "libfoo.so.3"),
        ("raiser", RuntimeError, "probe of the accelerator crashed"),
        ("future", PluginError, "contract version 99"),
    ],
)
def test_asking_for_a_failed_plugin_by_name_raises_its_error(
    install: Install, name: str, original: type, text: str
) -> None:
    install({"good": GOOD, name: {"broken": BROKEN_IMPORT, "raiser": RAISES_IN_HOOK, "future": BAD_CONTRACT}[name]})
    reg = PluginRegistry()
    with pytest.raises(PluginError, match=text) as info:
        reg.find(name)
    assert isinstance(info.value.__cause__, original)
    assert f"plugin {name!r}" in str(info.value)
    model = mi.load(CASES / "lenet5" / "model.mindir")
    with pytest.raises(PluginError, match=text):
        Session(model, target=f"null@{name}", plugins=reg)


def test_mindinfer_plugins_restricts_which_load(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    mods = install({"good": GOOD, "other": GOOD, "raiser": RAISES_IN_HOOK})
    monkeypatch.setenv("MINDINFER_PLUGINS", "good")
    reg = PluginRegistry()
    info = {p.name: p for p in reg.plugins}
    assert info["good"].status == "loaded"
    assert info["other"].status == "blocked" and info["raiser"].status == "blocked"
    import sys

    assert mods["other"] not in sys.modules  # blocked means not even imported
    with pytest.raises(PluginError, match="blocked.*MINDINFER_PLUGINS"):
        reg.find("other")


def test_mindinfer_plugins_naming_no_plugin_is_an_error(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    install({"good": GOOD})
    monkeypatch.setenv("MINDINFER_PLUGINS", "good, nonexistent")
    with pytest.raises(
        PluginError, match=r"MINDINFER_PLUGINS='good, nonexistent' names 'nonexistent'.*installed: .*good"
    ):
        PluginRegistry()


def test_messages_say_which_plugin_variable_is_in_effect(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    install({"good": GOOD})
    monkeypatch.setenv("MINDINFER_PLUGINS", "good")
    reg = PluginRegistry()
    assert "MINDINFER_PLUGINS='good' is set" in reg.env_note()
    with pytest.raises(mi.BackendUnavailableError, match="MINDINFER_PLUGINS='good' is set") as info:
        Session(CASES / "lenet5" / "model.mindir", target="cpu", plugins=reg)
    assert "reinstall" not in str(info.value)
    monkeypatch.delenv("MINDINFER_PLUGINS")
    monkeypatch.setenv("MINDINFER_DISABLE_PLUGIN_AUTOLOAD", "1")
    reg = PluginRegistry()
    with pytest.raises(mi.BackendUnavailableError, match="MINDINFER_DISABLE_PLUGIN_AUTOLOAD is set"):
        Session(CASES / "lenet5" / "model.mindir", target="cpu", plugins=reg)


def test_disable_autoload(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    install({"good": GOOD})
    monkeypatch.setenv("MINDINFER_DISABLE_PLUGIN_AUTOLOAD", "1")
    reg = PluginRegistry()
    assert reg.plugins == [] and reg.backends() == []
    reg.register(NullPlugin(), name="mine")  # programmatic registration still works
    assert [b.name for b in reg.backends()] == ["null"]


def test_unknown_plugin_name_lists_installed() -> None:
    reg = PluginRegistry(autoload=False)
    reg.register(NullPlugin(), name="null")
    with pytest.raises(mi.InvalidTargetError, match=r"no plugin or backend named 'nope'.*installed: null"):
        reg.find("nope")


def test_duplicate_backend_names_are_refused() -> None:
    reg = PluginRegistry(autoload=False)
    reg.register(NullPlugin(NullBackend(name="x")), name="first")
    second = reg.register(NullPlugin(NullBackend(name="x")), name="second")
    assert second.status == "failed" and "already registered" in str(second.error)
    assert [b.name for b in reg.backends()] == ["x"]


OPENER = """
import mindinfer
from mindinfer.ir import ForeignModel, TensorSpec

@mindinfer.hookimpl
def open_foreign_model(path):
    if not path.endswith(".fake"):
        return None
    return ForeignModel(path, "fake", [TensorSpec("in", (2, -1), "float32")], [TensorSpec("out", (2,), "int32")])
"""


def test_open_foreign_model_hook_feeds_foreign_formats_to_backends(install: Install, tmp_path: Path) -> None:
    install({"opener": OPENER})
    reg = PluginRegistry()
    reg.register(NullPlugin(NullBackend(name="fakerunner", formats=frozenset({"fake"}))), name="fakerunner")
    reg.register(NullPlugin(NullBackend(name="mindironly", priority=50)), name="mindironly")
    path = tmp_path / "m.fake"
    path.write_bytes(b"whatever")
    with Session(path, target="null", plugins=reg) as sess:
        assert [str(s) for s in sess.inputs] == ["in: float32[2,?]"]
        (out,) = sess.run({"in": np.zeros((2, 5), np.float32)})
    # The higher-priority backend does not read the format, so the other one ran it.
    assert sess.placement.plugin == "fakerunner"
    assert out.dtype == np.int32 and out.shape == (2,)


def test_open_foreign_model_hook_raising_is_a_plugin_error(tmp_path: Path) -> None:
    class Bad:
        @mi.hookimpl
        def open_foreign_model(self, path: str) -> None:
            raise ValueError("cannot parse header")

    reg = PluginRegistry(autoload=False)
    reg.register(Bad(), name="bad")
    path = tmp_path / "m.onnx"
    path.write_bytes(b"x")
    with pytest.raises(PluginError, match="plugin 'bad' raised in open_foreign_model.*cannot parse header"):
        Session(path, target="cpu", plugins=reg)


def test_a_plugin_on_the_hooks_old_name_still_opens_its_files(tmp_path: Path) -> None:
    # open_foreign_model was first published as open_model; plugins written then keep working,
    # with a DeprecationWarning naming the new hook.
    class Old:
        @mi.hookimpl
        def open_model(self, path: str) -> ForeignModel | None:
            return ForeignModel(path, "fake", [TensorSpec("in", (2,), "float32")], [TensorSpec("o", (2,), "float32")])

    reg = PluginRegistry(autoload=False)
    with pytest.warns(DeprecationWarning, match="open_foreign_model"):
        reg.register(Old(), name="old")
    assert reg.plugins[0].status == "loaded"
    path = tmp_path / "m.fake"
    path.write_bytes(b"x")
    opened = reg.open_foreign(str(path))
    assert isinstance(opened, ForeignModel) and opened.format == "fake"


# -- issue 18, item 8: only KeyboardInterrupt escapes a plugin --------------------------------------
BASE_EXCEPTION_AT_IMPORT = """
class PluginAbort(BaseException):
    pass

raise PluginAbort("the vendor SDK aborted while loading")
"""
SYSTEM_EXIT_AT_IMPORT = "raise SystemExit(3)\n"
GENERATOR_EXIT_AT_IMPORT = "raise GeneratorExit('odd, but seen')\n"
BASE_EXCEPTION_IN_HOOKS = """
import mindinfer

class PluginAbort(BaseException):
    pass

@mindinfer.hookimpl
def register_backends(register):
    raise PluginAbort("probe aborted")
"""
BASE_EXCEPTION_IN_COMMANDS = """
import mindinfer
from mindinfer.testing import NullBackend

class PluginAbort(BaseException):
    pass

@mindinfer.hookimpl
def register_backends(register):
    register(NullBackend(name="{name}_backend"))

@mindinfer.hookimpl
def register_commands(subparsers):
    raise PluginAbort("commands aborted")

@mindinfer.hookimpl
def open_foreign_model(path):
    raise PluginAbort("open aborted")
"""
INTERRUPT_AT_IMPORT = "raise KeyboardInterrupt\n"


def test_base_exceptions_at_import_or_in_a_hook_are_recorded_and_everything_else_works(install: Install) -> None:
    install(
        {
            "good": GOOD,
            "aborter": BASE_EXCEPTION_AT_IMPORT,
            "exiter": SYSTEM_EXIT_AT_IMPORT,
            "genexit": GENERATOR_EXIT_AT_IMPORT,
            "hookabort": BASE_EXCEPTION_IN_HOOKS,
        }
    )
    reg = PluginRegistry()
    info = {p.name: p for p in reg.plugins}
    for name, kind in (("aborter", "PluginAbort"), ("exiter", "SystemExit"), ("genexit", "GeneratorExit")):
        assert info[name].status == "failed" and type(info[name].error).__name__ == kind, name
    assert info["hookabort"].status == "failed" and "probe aborted" in info["hookabort"].error_text
    assert info["good"].status == "loaded"
    with pytest.raises(PluginError, match="the vendor SDK aborted") as err:
        reg.find("aborter")
    assert type(err.value.__cause__).__name__ == "PluginAbort"
    # The native cpu plugin (a real entry point) still runs models.
    with Session(CASES / "lenet5" / "model.mindir", target="cpu@cpu", plugins=reg) as sess:
        assert sess.run([np.zeros((2, 1, 32, 32), np.float32)])[0].shape == (2, 10)


def test_base_exception_in_register_commands_or_open_model(install: Install, tmp_path: Path) -> None:
    import argparse

    install({"cmds": BASE_EXCEPTION_IN_COMMANDS})
    reg = PluginRegistry()
    reg.register_commands(argparse.ArgumentParser().add_subparsers())  # skipped with a warning, no raise
    weird = tmp_path / "model.weird"
    weird.write_bytes(b"x")
    with pytest.raises(PluginError, match="raised in open_foreign_model.*PluginAbort: open aborted") as err:
        reg.open_foreign(str(weird))
    assert type(err.value.__cause__).__name__ == "PluginAbort"


def test_keyboard_interrupt_at_import_still_escapes(install: Install) -> None:
    install({"interrupter": INTERRUPT_AT_IMPORT})
    with pytest.raises(KeyboardInterrupt):
        PluginRegistry()


def test_cli_with_a_plugin_raising_base_exception(install: Install, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    install({"aborter": BASE_EXCEPTION_AT_IMPORT, "exiter": SYSTEM_EXIT_AT_IMPORT})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    env.pop("MINDINFER_PLUGINS", None)
    env.pop("MINDINFER_DISABLE_PLUGIN_AUTOLOAD", None)
    cmd = [sys.executable, "-m", "mindinfer"]
    out = subprocess.run([*cmd, "plugins"], check=False, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "aborter: failed" in out.stdout and "PluginAbort: the vendor SDK aborted" in out.stdout
    assert "exiter: failed" in out.stdout and "Traceback" not in out.stderr
    model = CASES / "lenet5" / "model.mindir"
    out = subprocess.run(
        [*cmd, "run", str(model), "-t", "cpu@cpu"], check=False, capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "plugin 'aborter' failed to load" in out.stderr


def test_a_backend_without_options_is_refused_naming_them() -> None:
    # Written to the Protocol by hand, without BackendBase: it must declare its options (() for none).
    class NoOptions:
        name, contract_version, device_kinds, priority = "nooptions", 1, ("cpu",), 1
        capabilities = NullBackend().capabilities

        def devices(self) -> list[Any]:
            return []

        def compile(self, *args: Any) -> Any:
            raise NotImplementedError

    reg = PluginRegistry(autoload=False)
    info = reg.register(NullPlugin(NoOptions()), name="nooptions")  # type: ignore[arg-type]
    assert info.status == "failed" and "lacks options" in str(info.error)
