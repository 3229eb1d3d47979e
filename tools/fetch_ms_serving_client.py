"""Puts MindSpore Serving's own Python client into DEST (``make test`` does this for tests/serve).

PyPI's mindspore-serving 2.0.2, its last release, has wheels for CPython 3.7 and 3.9 only, so pip
will not install it here. Its client (``mindspore_serving.client``) and the generated protobuf
modules it imports are pure Python over grpcio, so this takes just those files out of the cp39
wheel, downloaded with pip. Its generated code (protoc 3.x era) builds descriptors directly, which
only protobuf's pure-Python implementation allows (``PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python``),
and only up to protobuf 3.20: from 4.x on, the pure-Python runtime no longer reads the map-entry
option of such descriptors, so ``Instance.items`` stops being a map and the client fails with
"list indices must be integers or slices, not str" (tried with 4.25.8, 5.29.5 and 6.33.6). So
protobuf 3.20.3 (within the client's own requirement, protobuf>=3.13) goes into DEST too, for the
client's process only: put DEST first on PYTHONPATH (the tests do, in a subprocess).

usage: python tools/fetch_ms_serving_client.py DEST
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "2.0.2"
PROTOBUF = "3.20.3"
# The pure-Python files the client needs; the rest of the wheel (server, .so files) is left out.
KEEP = (
    "mindspore_serving/__init__.py",
    "mindspore_serving/client/",
    "mindspore_serving/proto/",
)


def main(dest: Path) -> int:
    if (dest / "mindspore_serving" / "client" / "__init__.py").is_file() and (dest / "google").is_dir():
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
            "--only-binary=:all:", "--python-version", "3.9", "--platform", "manylinux1_x86_64",
            f"mindspore-serving=={VERSION}", "-d", tmp,
        ]  # fmt: skip
        subprocess.run(cmd, check=True)
        (wheel,) = Path(tmp).glob("mindspore_serving-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist() if n.startswith(KEEP) and n.endswith(".py")]
            dest.mkdir(parents=True, exist_ok=True)
            zf.extractall(dest, members=names)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--upgrade"]
    subprocess.run([*pip, "--target", str(dest), f"protobuf=={PROTOBUF}"], check=True)
    print(f"MindSpore Serving {VERSION} client ({len(names)} files) and protobuf {PROTOBUF} in {dest}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
