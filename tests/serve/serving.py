"""Shared by the serving tests: a model repository made of stored cases, and the real server as a
process on free loopback ports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "conformance" / "mindinfer_conformance" / "cases" / "model"
MS_CLIENT = ROOT / ".venv" / "ms_serving_client"
#: mobilenet_v2 exported with a dynamic batch (tools/make_serve_cases.py), MindSpore's outputs beside it
MOBILENET = ROOT / "tests" / "data" / "serve" / "mobilenet_v2_035_96_dyn"

#: repository name -> stored case (MindSpore's own inputs and outputs beside each model)
MODELS = {"dyn": "small_cnn_dynamic_batch", "lenet5": "lenet5", "two": "two_in_two_out"}


def case_io(case: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    folder = CASES / case

    def load(prefix: str) -> list[np.ndarray]:
        files = sorted(folder.glob(f"{prefix}_*.npy"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
        return [np.load(f) for f in files]

    return load("input"), load("output")


def close_to_mindspore(ours: np.ndarray, ms: np.ndarray) -> bool:
    """The project's whole-network tolerance against MindSpore's output."""
    ours, ms = np.asarray(ours, np.float64), np.asarray(ms, np.float64)
    if ours.shape != ms.shape:
        return False
    err = float(np.max(np.abs(ours - ms)))
    cos = float(np.dot(ours.ravel(), ms.ravel()) / (np.linalg.norm(ours) * np.linalg.norm(ms) + 1e-30))
    return err <= 1e-4 + 1e-3 * float(np.max(np.abs(ms))) and cos >= 0.99999


def make_repo(root: Path, configs: dict[str, dict[str, Any]] | None = None, mobilenet: bool = False) -> Path:
    sources = {name: CASES / case for name, case in MODELS.items()}
    if mobilenet:
        sources["mobilenet"] = MOBILENET
    for name, folder in sources.items():
        (root / name / "1").mkdir(parents=True)
        shutil.copy(folder / "model.mindir", root / name / "1" / "model.mindir")
        if configs and name in configs:
            (root / name / "config.json").write_text(json.dumps(configs[name]))
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def pinned_to(cpus: set[int] | None) -> Iterator[None]:
    """Runs the block on ``cpus`` (Linux; None: as it is). A process started in it inherits them, and
    so does every thread it starts (BLAS, onnxruntime); this thread gets its own CPUs back after."""
    if cpus is None:
        yield
        return
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, own)


def wait_for_http(proc: subprocess.Popen[Any], url: str, timeout: float, context: Any = None) -> bool:
    """Whether ``url`` answered a GET within ``timeout`` seconds; False as soon as ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1, context=context):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Server:
    """``mindinfer serve PATH ...`` in a subprocess on free ports, ready when started."""

    def __init__(
        self,
        path: Path,
        *args: str,
        env: dict[str, str] | None = None,
        wait_ready: bool = True,
        cpus: set[int] | None = None,
    ) -> None:
        self.http_port, self.grpc_port = free_port(), free_port()
        self.http = f"127.0.0.1:{self.http_port}"
        self.grpc = f"127.0.0.1:{self.grpc_port}"
        cmd = [
            sys.executable, "-m", "mindinfer", "serve", str(path),
            "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port), *args,
        ]  # fmt: skip
        with pinned_to(cpus):
            self.proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, **(env or {})},
            )
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60.0, scheme: str = "http", context: Any = None) -> None:
        if wait_for_http(self.proc, f"{scheme}://{self.http}/v2/health/live", timeout, context):
            return
        if self.proc.poll() is not None:
            raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
        self.stop()
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.output()}")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def output(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stdout is not None
        return self.proc.stdout.read()

    def __enter__(self) -> Server:  # noqa: PYI034 -- typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
