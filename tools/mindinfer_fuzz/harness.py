"""The fuzz driver: make mutants, run each in a forked child under time and memory limits, classify.

The parent imports mindinfer and both plugins once, then ``fork``s one child per (mutant, plugin):
cheap, and the child starts with everything imported but nothing compiled (no thread pools yet).
The child sets ``RLIMIT_AS`` (the memory bound), ``RLIMIT_CPU`` and no core files, runs
:func:`.child.run_case` and writes its outcome to a pipe. The parent kills a child that overruns
its wall-clock limit (``hang``) and reads a child that died without an outcome as ``crash``.
"""

from __future__ import annotations

import faulthandler
import json
import os
import random
import resource
import select
import shutil
import signal
import stat
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mindinfer._proto import mind_ir_pb2 as pb

from .mutate import CLASSES, Skip

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "conformance" / "mindinfer_conformance" / "cases"
#: The shared corpus's seven cases (also kept in the repository as conformance model cases).
CORPUS = ("branchy_if", "lenet5", "mlp_layernorm_gelu", "small_cnn_bn", "small_cnn_dynamic_batch",
          "transformer_block", "two_in_two_out")  # fmt: skip
OUTCOMES = ("clean", "ran", "hang", "crash", "raw", "memory")
BAD = ("hang", "crash", "raw", "memory")
#: Options per plugin: one thread each (children run side by side); a low loop limit on cpu so that
#: a loop that never exits meets it within the run's time limit.
PLUGIN_OPTIONS: dict[str, dict[str, Any]] = {
    "cpu@cpu": {"threads": 1, "max_loop_iterations": 20_000},
    "cpu@onnx": {"threads": 1},
}


@dataclass
class Limits:
    wall_s: float = 30.0  # the child is killed after this: a hang
    run_timeout_s: float = 5.0  # RunOptions timeout given to Session.run
    memory_mb: int = 3072  # RLIMIT_AS: the documented allocation bound


@dataclass
class Result:
    index: int
    cls: str
    seed: str
    what: str
    target: str
    outcome: str
    stage: str = ""
    error: str = ""
    peak_mb: float = 0.0
    seconds: float = 0.0


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    def table(self, by_target: bool = False) -> str:
        key = (lambda r: (r.cls, r.target)) if by_target else (lambda r: (r.cls,))
        rows: dict[tuple[str, ...], Counter[str]] = {}
        for r in self.results:
            rows.setdefault(key(r), Counter())[r.outcome] += 1
        head = ["class", *(["target"] if by_target else []), "runs", *OUTCOMES]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        total: Counter[str] = Counter()
        for k in sorted(rows):
            c = rows[k]
            total.update(c)
            lines.append("| " + " | ".join([*k, str(sum(c.values())), *(str(c[o]) for o in OUTCOMES)]) + " |")
        pad = [""] if by_target else []
        lines.append(
            "| " + " | ".join(["**all**", *pad, str(sum(total.values())), *(str(total[o]) for o in OUTCOMES)]) + " |"
        )
        return "\n".join(lines)

    def bad(self) -> list[Result]:
        return [r for r in self.results if r.outcome in BAD]


def seeds(extra: list[Path] | None = None) -> list[Path]:
    """Seed cases: the shared corpus, every conformance op case, and any extra folders given."""
    found = [CASES / "model" / name for name in CORPUS]
    found += sorted(p for p in (CASES / "op").iterdir() if (p / "model.mindir").exists())
    for root in extra or []:
        found += sorted(p for p in root.iterdir() if (p / "model.mindir").exists())
    return [p for p in found if (p / "model.mindir").exists()]


def make_mutant(index: int, seed: int, cls: str, pool: list[Path], folder: Path) -> tuple[str, str]:
    """Write mutant ``index`` into ``folder``; returns (seed case, description). Deterministic."""
    mutation = CLASSES[cls]
    if mutation.prefer is not None and random.Random(f"{seed}/{index}").random() < 0.5:
        # Half of this class's mutants come from the (few) seeds it was made for.
        pool = [p for p in pool if mutation.prefer((p / "model.mindir").read_bytes())] or pool
    for attempt in range(1000):  # a class may fit few seeds (external_data needs weights)
        rng = random.Random(f"{seed}/{index}/{attempt}")
        case = rng.choice(pool)
        data = (case / "model.mindir").read_bytes()
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for npy in case.glob("input_*.npy"):
            shutil.copy(npy, folder / npy.name)
        try:
            if mutation.raw is not None:
                other = (rng.choice(pool) / "model.mindir").read_bytes()
                data, what = mutation.raw(data, other, rng)
            else:
                proto = pb.ModelProto()
                proto.ParseFromString(data)
                assert mutation.proto is not None
                what = mutation.proto(proto, folder, rng)
                data = proto.SerializeToString()
        except (Skip, ValueError, TypeError):  # nothing to change, or protobuf refused the value
            continue
        (folder / "model.mindir").write_bytes(data)
        return case.name, what
    raise RuntimeError(f"class {cls}: no seed case could be mutated (1000 tries)")


def _limit_child(limits: Limits) -> None:
    mem = limits.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = int(limits.wall_s * 2) + 5  # two threads may spin; the wall clock catches a hang first
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _fork(folder: Path, target: str, limits: Limits) -> tuple[int, int]:
    """Start one child on ``folder``; returns (pid, read end of its outcome pipe)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(r)
            log = os.open(folder / f"log-{target.replace('@', '_')}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(log, 1)
            os.dup2(log, 2)
            if faulthandler.is_enabled():  # pytest's handler writes to the parent's stderr otherwise
                faulthandler.enable(file=log)
            _limit_child(limits)
            from .child import run_case

            result = run_case(folder, target, PLUGIN_OPTIONS.get(target, {}), limits.run_timeout_s)
            os.write(w, json.dumps(result).encode())
        except BaseException:  # noqa: BLE001 -- anything reaching here is the harness's own failure
            code = 3
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def _copy_special(src: str, dst: str) -> None:
    """Copy a kept mutant's file; a FIFO is made anew (copying one would block)."""
    if stat.S_ISFIFO(os.lstat(src).st_mode):
        os.mkfifo(dst)
    else:
        shutil.copy2(src, dst)


@dataclass
class _Running:
    pid: int
    fd: int
    start: float
    result: Result
    folder: Path
    chunks: list[bytes] = field(default_factory=list)


def _finish(job: _Running, killed: bool) -> Result:
    _, status = os.waitpid(job.pid, 0)
    os.close(job.fd)
    r = job.result
    r.seconds = round(time.monotonic() - job.start, 2)
    data = b"".join(job.chunks)
    if killed:
        r.outcome, r.error = "hang", f"killed after {r.seconds} s"
    elif data:
        out = json.loads(data)
        r.outcome, r.stage, r.error, r.peak_mb = out["outcome"], out["stage"], out["error"], out.get("peak_mb", 0.0)
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        r.outcome = "hang" if sig == signal.SIGXCPU else "crash"
        r.error = f"died of signal {signal.Signals(sig).name}"
    else:
        r.outcome, r.error = "crash", f"exited with status {os.WEXITSTATUS(status)} and no outcome"
    log = job.folder / f"log-{r.target.replace('@', '_')}.txt"
    if r.outcome in ("crash", "hang") and log.exists():
        r.error += " | " + log.read_text(errors="replace")[-300:].replace("\n", " ")
    return r


def _jobs(
    n: int, seed: int, classes: list[str], targets: list[str], pool: list[Path], work: Path
) -> Iterator[tuple[Path, Result]]:
    for index in range(n):
        cls = classes[index % len(classes)]
        folder = work / f"m{index:05d}"
        case, what = make_mutant(index, seed, cls, pool, folder)
        for target in targets:
            yield folder, Result(index, cls, case, what, target, "")


def fuzz(
    n: int,
    seed: int,
    targets: list[str],
    classes: list[str] | None = None,
    jobs: int = 2,
    limits: Limits | None = None,
    keep: Path | None = None,
    extra_seeds: list[Path] | None = None,
    progress: bool = False,
) -> Report:
    """Run ``n`` mutants (classes in turn) on every target in ``targets``.

    Mutant folders of non-clean outcomes are copied to ``keep`` (when given) for reproduction.
    """
    import mindinfer

    mindinfer.get_registry()  # plugins imported before forking, not in each child
    limits = limits or Limits()
    classes = classes or list(CLASSES)
    pool = seeds(extra_seeds)
    report = Report()
    work = Path(tempfile.mkdtemp(prefix="mindinfer-fuzz-"))
    running: dict[int, _Running] = {}
    pending = _jobs(n, seed, classes, targets, pool, work)
    remaining_by_folder: Counter[Path] = Counter()
    exhausted = False
    try:
        while running or not exhausted:
            while not exhausted and len(running) < jobs:
                item = next(pending, None)
                if item is None:
                    exhausted = True
                    break
                folder, result = item
                if folder not in remaining_by_folder:  # its runs on every target share the folder
                    remaining_by_folder[folder] = len(targets)
                pid, fd = _fork(folder, result.target, limits)
                running[fd] = _Running(pid, fd, time.monotonic(), result, folder)
            if not running:
                break
            ready, _, _ = select.select(list(running), [], [], 0.2)
            now = time.monotonic()
            for fd in list(running):
                job = running[fd]
                done = killed = False
                if fd in ready:
                    chunk = os.read(fd, 65536)
                    if chunk:
                        job.chunks.append(chunk)
                    else:
                        done = True
                if not done and now - job.start > limits.wall_s:
                    os.kill(job.pid, signal.SIGKILL)
                    done = killed = True
                if done:
                    del running[fd]
                    r = _finish(job, killed)
                    report.results.append(r)
                    if progress and len(report.results) % 100 == 0:
                        print(f"  {len(report.results)} runs, {len(report.bad())} not clean", flush=True)
                    if keep is not None and r.outcome in BAD:
                        dest = keep / f"m{r.index:05d}-{r.cls}"
                        if not dest.exists():
                            shutil.copytree(job.folder, dest, symlinks=True, copy_function=_copy_special)
                    remaining_by_folder[job.folder] -= 1
                    if remaining_by_folder[job.folder] == 0:
                        shutil.rmtree(job.folder, ignore_errors=True)
    finally:
        for job in running.values():
            os.kill(job.pid, signal.SIGKILL)
            os.waitpid(job.pid, 0)
        shutil.rmtree(work, ignore_errors=True)
    report.results.sort(key=lambda r: (r.index, r.target))
    return report


def write_report(report: Report, out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps([asdict(r) for r in report.results], indent=1))
    bad = report.bad()
    lines = [
        "# mindinfer fuzz summary",
        "",
        f"`{command}`",
        "",
        report.table(),
        "",
        "By target:",
        "",
        report.table(by_target=True),
        "",
        f"Peak memory of a child: {max((r.peak_mb for r in report.results), default=0):.0f} MB.",
        "",
        f"## Not clean ({len(bad)})",
        "",
    ]
    lines += [
        f"- #{r.index} {r.cls} on {r.seed} ({r.what}), {r.target}: {r.outcome} at {r.stage}: {r.error}" for r in bad
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
