"""What the ``run`` and ``bench`` commands share: model, target, input and option arguments.

Its own module so that :mod:`mindinfer.cli` and :mod:`mindinfer._bench` both import it and
neither imports the other.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._plugins import get_registry
from .errors import InvalidInputError, InvalidOptionError, MindIRError
from .ir import ForeignModel, Model, TensorSpec

__all__ = [
    "add_load_args",
    "add_model_args",
    "add_option_arg",
    "load_kwargs",
    "make_inputs",
    "note_failed_plugins",
    "parse_options",
    "print_checkpoint",
]


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a .mindir file (or a format a plugin opens)")
    p.add_argument("--target", "-t", default="cpu", help="device target, e.g. cpu, gpu:1, cpu@onnx, gpu,cpu, auto")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE.npy", help="an input (repeat)")
    p.add_argument(
        "--shape", action="append", default=[], metavar="NAME=D0,D1,..", help="size dynamic dims of a random input"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs")
    add_option_arg(p)
    add_load_args(p)


def add_option_arg(p: argparse.ArgumentParser, scope: str = "") -> None:
    """--option [ALT/]KEY=VALUE (repeatable), read by :func:`parse_options`."""
    p.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="[ALT/]KEY=VALUE",
        help=f"a backend option{scope} (repeat; see `mindinfer plugins`); ALT/ limits it to one alternative of "
        "the target, e.g. gpu/precision=fp16",
    )


def add_load_args(p: argparse.ArgumentParser) -> None:
    """--checkpoint, --no-strict, --dec-key-file, --dec-mode: what ``mindinfer.load`` takes besides the path."""
    g = p.add_argument_group("checkpoints and encrypted models")
    g.add_argument(
        "--checkpoint", metavar="FILE", help="MindSpore .ckpt or .safetensors whose weights replace the MindIR's"
    )
    g.add_argument(
        "--no-strict",
        dest="strict",
        action="store_false",
        help="parameters missing from --checkpoint keep the MindIR's values",
    )
    g.add_argument(
        "--dec-key-file", metavar="FILE", type=Path, help="file holding the raw key bytes of an encrypted MindIR"
    )
    g.add_argument(
        "--dec-mode", default="AES-GCM", choices=["AES-GCM", "AES-CBC"], help="cipher mode (default AES-GCM)"
    )


def load_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of ``mindinfer.load``/``Session`` that :func:`add_load_args` options give."""
    key = None
    if getattr(args, "dec_key_file", None) is not None:
        try:
            key = args.dec_key_file.read_bytes()
        except OSError as exc:
            raise MindIRError(f"--dec-key-file {args.dec_key_file}: cannot read it: {exc.strerror or exc}") from None
    return {
        "checkpoint": getattr(args, "checkpoint", None),
        "strict": getattr(args, "strict", True),
        "dec_key": key,
        "dec_mode": getattr(args, "dec_mode", "AES-GCM"),
    }


def print_checkpoint(model: Model | ForeignModel) -> None:
    """One line saying what --checkpoint changed (the warnings of ``load`` would repeat it)."""
    report = getattr(model, "checkpoint", None)
    if report is not None:
        print(f"checkpoint: {report}")


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``--option`` values as ``Session`` options: ``KEY=VALUE`` for every alternative,
    ``ALT/KEY=VALUE`` for one (see :func:`mindinfer.targets.options_for`).

    VALUE is read as JSON where it parses (``4``, ``0.5``, ``true``, ``null``), else as a string.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip("/"):
            raise InvalidOptionError(f"--option {item!r}: write KEY=VALUE or ALT/KEY=VALUE, e.g. threads=4")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        alt, slash, name = key.rpartition("/")
        if slash:
            out.setdefault(alt, {})[name] = value
        else:
            out[name] = value
    return out


def note_failed_plugins() -> None:
    """One stderr line per plugin that did not load: it might have changed which backend ran."""
    for p in get_registry().plugins:
        if p.status == "failed":
            print(f"note: plugin {p.name!r} failed to load ({p.error_text}); see `mindinfer plugins`", file=sys.stderr)


def make_inputs(
    specs: Sequence[TensorSpec], files: Sequence[str], shapes: Sequence[str], seed: int = 0
) -> list[np.ndarray]:
    """Inputs from ``name=file.npy`` options; random ones of the right shape and dtype otherwise.

    A dynamic dimension of a random input is 1 unless ``name=d0,d1,...`` in ``shapes`` sizes it.
    """
    names = [s.name for s in specs]
    given = {k: _load_npy(k, v) for k, v in (_split(o, "--input", names) for o in files)}
    sizes = {k: _parse_dims(k, v) for k, v in (_split(o, "--shape", names) for o in shapes)}
    rng = np.random.default_rng(seed)
    out = []
    for spec in specs:
        if spec.name in given:
            out.append(given[spec.name])
            continue
        shape = sizes.get(spec.name) or tuple(1 if d < 0 else d for d in (spec.shape or ()))
        out.append(_random(rng, shape, spec.dtype))
    return out


def _split(option: str, flag: str, names: list[str]) -> tuple[str, str]:
    name, sep, value = option.partition("=")
    if not sep:
        if len(names) == 1:
            return names[0], option
        raise InvalidInputError(f"{flag} {option!r}: write NAME=VALUE; the model's inputs are {', '.join(names)}")
    if name not in names:
        raise InvalidInputError(
            f"{flag} {option!r}: the model has no input {name!r}; its inputs are {', '.join(names)}"
        )
    return name, value


def _load_npy(name: str, path: str) -> np.ndarray:
    try:
        return np.asarray(np.load(path, allow_pickle=False))
    except Exception as exc:  # noqa: BLE001 -- any unreadable file is one user error
        raise InvalidInputError(f"--input {name}={path}: cannot read it as a .npy file ({exc})") from None


def _parse_dims(name: str, text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        raise InvalidInputError(
            f"--shape {name}={text}: write comma-separated sizes, e.g. {name}=1,3,224,224"
        ) from None
    if any(d < 0 for d in dims):
        raise InvalidInputError(f"--shape {name}={text}: sizes must be >= 0")
    return dims


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) > 0.5
    if dt.kind in "iu":
        return rng.integers(0, 10, size=shape).astype(dt)
    return rng.standard_normal(shape).astype(dt)
