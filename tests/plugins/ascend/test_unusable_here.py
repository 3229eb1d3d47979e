"""On this machine (no CANN, no NPU): the plugin loads, and says exactly why Ascend is unusable."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import mindinfer
import pytest
from ascend_sim import case, registry_with_ascend
from mindinfer.errors import BackendUnavailableError
from mindinfer_ascend import _acl
from mindinfer_ascend.devices import HARDWARE_NOTE

NO_PYACL = "pyACL (the `acl` module of Huawei's CANN toolkit) is not importable here"


@pytest.fixture
def no_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_acl.SIMULATOR_ENV, raising=False)
    monkeypatch.setattr(_acl, "_RUNTIME", _acl.Runtime())
    monkeypatch.delitem(sys.modules, "acl", raising=False)
    try:
        import acl  # noqa: F401
    except ImportError:
        return
    pytest.skip("an `acl` module is importable here: this machine may have CANN")


def test_devices_give_the_reason(no_simulator: None) -> None:
    (dev,) = registry_with_ascend().find("ascend")[0].devices()
    assert dev.kind == "ascend" and not dev.usable
    assert NO_PYACL in dev.reason and "set_env.sh" in dev.reason
    assert dev.details["hardware"] == HARDWARE_NOTE


def test_target_ascend310_raises_backend_unavailable_with_that_reason(no_simulator: None) -> None:
    with pytest.raises(BackendUnavailableError) as info:
        mindinfer.Session(case("lenet5")[0], target="ascend310", plugins=registry_with_ascend())
    assert "target 'ascend310' is not usable here" in str(info.value) and NO_PYACL in str(info.value)


def test_an_om_file_needs_pyacl(no_simulator: None, tmp_path: Path) -> None:
    om = tmp_path / "net.om"
    om.write_bytes(b"\0" * 64)
    with pytest.raises(BackendUnavailableError, match=r"net.om is an Ascend offline model; .*not importable"):
        mindinfer.Session(om, target="ascend", plugins=registry_with_ascend())


def test_an_unrelated_acl_module_is_not_taken_for_pyacl(
    no_simulator: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acl.py").write_text("# PyPI's network access-list parser, say\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (dev,) = registry_with_ascend().find("ascend")[0].devices()
    assert "is not CANN's pyACL" in dev.reason


def _cli(*args: str) -> str:
    script = Path(sys.executable).with_name("mindinfer")
    try:
        metadata.distribution("mindinfer-ascend")
    except metadata.PackageNotFoundError:
        pytest.skip("mindinfer-ascend is not installed in this environment (make test installs it)")
    if not script.is_file():
        pytest.skip("the mindinfer command is not installed next to this Python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDINFER_")}
    proc = subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=120, check=True)
    return proc.stdout


def test_mindinfer_plugins_lists_it_loaded() -> None:
    out = _cli("plugins")
    assert "ascend: loaded  [mindinfer-ascend" in out
    assert "backend ascend: kinds ascend" in out


def test_mindinfer_devices_says_why_and_that_it_never_ran_on_hardware() -> None:
    out = _cli("devices")
    line = next(ln for ln in out.splitlines() if ln.startswith("ascend:0@ascend"))
    assert "unusable: " + NO_PYACL in line
    assert "never run on Ascend hardware" in out
