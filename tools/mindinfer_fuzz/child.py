"""What runs inside one forked child: load, Session, run; the outcome as a small dict.

Outcomes: ``clean`` (a mindinfer error), ``ran``, ``raw`` (any other exception), ``memory`` (a
``MemoryError``, even one a mindinfer error wraps). ``hang`` and ``crash`` are decided by the
parent, which sees the child overrun its time or die.
"""

from __future__ import annotations

import resource
import traceback
from pathlib import Path
from typing import Any

import numpy as np

#: Random inputs are made only up to this many elements; larger specs get the stored inputs.
MAX_INPUT_ELEMENTS = 1 << 22


def _stored(folder: Path) -> list[np.ndarray]:
    out = []
    for i in range(64):
        path = folder / f"input_{i}.npy"
        if not path.exists():
            break
        out.append(np.load(path))
    return out


def make_inputs(specs: list[Any], folder: Path, rng: np.random.Generator) -> list[Any]:
    """The stored inputs where they fit the (mutated) specs, else random arrays of the spec."""
    stored = _stored(folder)
    out: list[Any] = []
    for i, spec in enumerate(specs):
        have = stored[i] if i < len(stored) else None
        fits = (
            have is not None
            and spec.shape is not None
            and str(have.dtype) == spec.dtype
            and have.ndim == len(spec.shape)
            and all(d < 0 or d == a for d, a in zip(spec.shape, have.shape))
        )
        if fits or spec.shape is None or spec.dtype == "object":
            out.append(have if have is not None else np.zeros((1,), np.float32))
            continue
        shape = tuple(1 if d < 0 else d for d in spec.shape)
        if int(np.prod(shape, dtype=np.float64)) > MAX_INPUT_ELEMENTS:
            out.append(have if have is not None else np.zeros((1,), np.float32))
            continue
        try:
            dtype = np.dtype(spec.dtype)
        except TypeError:
            out.append(have)
            continue
        if dtype.kind == "b":
            out.append(rng.random(shape) < 0.5)
        elif dtype.kind in "iu":
            out.append(rng.integers(0, 3, shape).astype(dtype))
        else:
            out.append(rng.standard_normal(shape).astype(dtype))
    return out


def _has_memory_error(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, MemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def run_case(folder: Path, target: str, options: dict[str, Any], run_timeout: float) -> dict[str, Any]:
    """Load, compile and run the model in ``folder``; never raises (except KeyboardInterrupt)."""
    import mindinfer as mi

    stage = "load"
    try:
        model = mi.load(folder / "model.mindir")
        stage = "session"
        sess = mi.Session(model, target=target, options=options)
        stage = "run"
        ins = make_inputs(sess.inputs, folder, np.random.default_rng(0))
        sess.run(ins, timeout=run_timeout)
        stage = "close"
        sess.close()
        result: dict[str, Any] = {"outcome": "ran", "stage": "done", "error": ""}
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 -- classifying every exception is the point
        text = f"{type(exc).__name__}: {exc}"[:600]
        if _has_memory_error(exc):
            outcome = "memory"
        elif isinstance(exc, mi.MindInferError):
            outcome = "clean"
        else:
            outcome = "raw"
            frames = traceback.extract_tb(exc.__traceback__)
            if frames:
                last = frames[-1]
                text += f" [at {Path(last.filename).name}:{last.lineno} in {last.name}]"
        result = {"outcome": outcome, "stage": stage, "error": text}
    result["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result
