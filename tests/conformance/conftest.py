"""Shared fixtures: suite runs on the real backends, and registries holding the faulty plugins."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mindinfer import PluginRegistry

HERE = Path(__file__).parent
# The faulty plugins live next to the tests (not installed): make them importable.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def faulty_registry() -> PluginRegistry:
    """The real cpu plugin plus every faulty plugin, registered programmatically (no autoload)."""
    from faulty_plugins import cpu_backend, liar, perturb

    registry = PluginRegistry(autoload=False)
    from mindinfer import hookimpl

    class CpuPlugin:
        @hookimpl
        def register_backends(self, register):  # type: ignore[no-untyped-def]
            register(cpu_backend())

    registry.register(CpuPlugin(), name="cpu")
    registry.register(perturb, name="softmax_bug")
    registry.register(liar, name="liars")
    failed = [p for p in registry.plugins if p.status != "loaded"]
    assert not failed, [f"{p.name}: {p.error_text}" for p in failed]
    return registry


@pytest.fixture(scope="session")
def faulty_site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for a subprocess in which the faulty plugins are *installed* as entry points.

    A ``.dist-info`` folder with an ``entry_points.txt`` on ``sys.path`` is all importlib.metadata
    needs, so the subprocess discovers them exactly as it discovers a pip-installed plugin.
    """
    import os

    site = tmp_path_factory.mktemp("site")
    info = site / "mindinfer_faulty_plugins-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mindinfer-faulty-plugins\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(
        "[mindinfer.backends]\nsoftmax_bug = faulty_plugins.perturb\nliars = faulty_plugins.liar\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("MINDINFER_PLUGINS", None)
    env.pop("MINDINFER_DISABLE_PLUGIN_AUTOLOAD", None)
    return env
