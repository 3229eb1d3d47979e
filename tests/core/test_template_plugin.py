"""The example third-party plugin, pip-installed into a fresh virtual environment, is discovered and runs.

To stay fast and offline, the fresh environment gets numpy, protobuf, pluggy and setuptools as
links to this interpreter's copies (with their dist-info, so pip sees them installed); mindinfer
and the template are then really built and installed by pip, from copies of their source trees
(so no build/ or egg-info litter lands in the repository).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "conformance" / "mindinfer_conformance" / "cases" / "model" / "two_in_two_out"
SHARED = ["numpy", "numpy.libs", "google", "protobuf", "pluggy", "setuptools", "pkg_resources", "_distutils_hack"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.pyc")


def _site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def _link_shared(dest: Path) -> None:
    import numpy

    here = Path(numpy.__file__).resolve().parents[1]
    for name in SHARED:
        dist_name = name.replace(".", "_")
        for entry in [here / name, *here.glob(f"{dist_name}-*.dist-info")]:
            if entry.exists() and not (dest / entry.name).exists():
                (dest / entry.name).symlink_to(entry)


def _pip(python: Path, source: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "-q",
            str(source),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, f"pip install {source.name} failed:\n{res.stdout}\n{res.stderr}"


@pytest.mark.slow
def test_template_plugin_in_a_fresh_venv(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    _link_shared(_site_packages(python))

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "setup.cfg"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "core", src / "core", ignore=IGNORE)
    shutil.copytree(ROOT / "plugins" / "cpu", src / "plugins" / "cpu", ignore=IGNORE)
    template = tmp_path / "plugin_template"
    shutil.copytree(ROOT / "examples" / "plugin_template", template, ignore=IGNORE)
    _pip(python, src)
    _pip(python, template)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINDINFER_", "PYTHON", "VIRTUAL_ENV"))}
    listed = subprocess.run(
        [str(env_dir / "bin" / "mindinfer"), "plugins", "--json"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert plugins["template"]["status"] == "loaded", plugins["template"]
    assert plugins["template"]["distribution"] == "mindinfer-plugin-template"
    assert plugins["template"]["backends"] == [
        {"name": "template", "device_kinds": ["cpu"], "priority": -10, "options": []}
    ]

    script = f"""
import json, sys, numpy as np, mindinfer as mi
assert "{ROOT}" not in mi.__file__, mi.__file__  # the fresh install, not this checkout
case = "{CASE}"
with mi.Session(case + "/model.mindir", target="cpu@template") as sess:
    outs = sess.run([np.load(case + "/input_0.npy"), np.load(case + "/input_1.npy")])
    placement = sess.placement
for i, out in enumerate(outs):
    np.save(sys.argv[1] + f"/out_{{i}}.npy", out)
print(json.dumps({{"plugin": placement.plugin, "device": str(placement.device)}}))
"""
    ran = subprocess.run(
        [str(python), "-c", script, str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.strip().splitlines()[-1]) == {"plugin": "template", "device": "cpu:0"}
    for i in range(2):
        got = np.load(tmp_path / f"out_{i}.npy")
        expected = np.load(CASE / f"output_{i}.npy")  # computed by MindSpore
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
