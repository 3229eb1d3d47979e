"""Running CANN's model compiler ``atc`` on an ONNX file: the command line, the timeout, the failure log.

The options follow the ATC command-line reference (CANN 8.x, ``atlasatcparam_16_*``): ``--framework=5``
reads ONNX; ``--output`` is the path without ``.om`` (ATC appends it); ``--input_shape`` names every
graph input, ``-1`` marking the batch dimension that ``--dynamic_batch_size`` gears replace; ``--input_format``
is ``NCHW`` for image models and ``ND`` otherwise; ``--precision_mode`` is chosen by
:mod:`mindinfer_ascend.precision`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mindinfer.errors import MindInferError

from ._acl import INSTALL_HINT, simulated

__all__ = ["DEFAULT_TIMEOUT", "AtcJob", "atc_command", "run_atc"]

#: Seconds a compile may take; large networks take minutes on a slow host.
DEFAULT_TIMEOUT = 1800.0
#: How much of ATC's output a failure message quotes.
_LOG_LINES = 40


@dataclass(frozen=True)
class AtcJob:
    """One ONNX -> .om compile."""

    onnx: Path
    #: The output path without ``.om``.
    output: Path
    soc_version: str
    #: ``(name, shape)`` per graph input; ``-1`` only in the first (batch) dimension.
    inputs: tuple[tuple[str, tuple[int, ...]], ...]
    precision_mode: str
    #: Gears for ``--dynamic_batch_size``; ``()`` for a static model.
    batch_sizes: tuple[int, ...] = ()

    @property
    def input_format(self) -> str:
        return "NCHW" if self.inputs and all(len(shape) == 4 for _, shape in self.inputs) else "ND"

    def arguments(self) -> list[str]:
        """The ATC options of this job (without the program itself)."""
        shapes = ";".join(f"{name}:{','.join(str(d) for d in shape)}" for name, shape in self.inputs)
        args = [
            f"--model={self.onnx}",
            "--framework=5",
            f"--output={self.output}",
            f"--soc_version={self.soc_version}",
            f"--input_format={self.input_format}",
            f"--input_shape={shapes}",
            f"--precision_mode={self.precision_mode}",
            "--log=error",
        ]
        if self.batch_sizes:
            args.append(f"--dynamic_batch_size={','.join(str(b) for b in self.batch_sizes)}")
        return args


def atc_command() -> list[str] | None:
    """How to run ``atc`` here: the one on ``PATH``, the simulator when it is asked for, else None."""
    if simulated():
        return [sys.executable, "-m", "mindinfer_ascend.testing.atc_simulator"]
    found = shutil.which("atc")
    return [found] if found else None


def missing_atc_reason() -> str:
    return f"`atc` (CANN's model compiler) is not on PATH; {INSTALL_HINT}"


def run_atc(job: AtcJob, command: Sequence[str], timeout: float, model: str) -> Path:
    """Run ATC for ``job``; the ``.om`` path, or a :class:`MindInferError` quoting ATC's log."""
    cmd = [*command, *job.arguments()]
    shown = " ".join(cmd)
    try:
        # A session of its own, so that a timeout stops ATC's compile workers along with it.
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise MindInferError(f"plugin 'ascend': could not start atc ({exc}); command: {shown}") from exc
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        output, _ = proc.communicate()
        raise MindInferError(
            f"plugin 'ascend': atc did not finish compiling {model} within {timeout:g} s and was stopped "
            f"(command: {shown}); raise the option atc_timeout if the model is large{_tail(output)}"
        ) from None
    except BaseException:
        _kill_group(proc)
        proc.communicate()
        raise
    om = job.output.with_name(job.output.name + ".om")
    if proc.returncode != 0 or not om.is_file():
        what = f"exit status {proc.returncode}" if proc.returncode != 0 else f"exit status 0 but no {om.name} written"
        raise MindInferError(
            f"plugin 'ascend': atc failed to compile {model} for {job.soc_version} ({what}); "
            f"command: {shown}{_tail(output)}"
        )
    return om


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _tail(output: str | bytes | None) -> str:
    if not output:
        return "; atc printed nothing (see its logs under ~/ascend/log)"
    text = output.decode(errors="replace") if isinstance(output, bytes) else output
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\natc output (last lines):\n" + "\n".join(lines[-_LOG_LINES:])
