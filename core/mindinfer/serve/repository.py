"""A model repository: ``ROOT/NAME/VERSION/model.mindir`` (or ``model.onnx``), like Triton and OVMS.

Each model folder may hold a ``config.json``::

    {
      "target": "cpu@onnx",                 # device target (default: the server's --target)
      "options": {"threads": 2},            # backend compile options
      "max_batch_size": 16,                 # 0: never batch; default: the server's --max-batch-size
      "batch_wait_ms": 2,                   # how long a batch waits to fill; default: --batch-wait-ms
      "batch_sizes": [1, 4, 8, 16],         # sizes the backend runs (profiles, gears): pad up to one
      "inputs": ["image"],                  # names the protocols use for the graph's inputs, in order
      "outputs": ["logits"],                # and for its outputs
      "with_batch_dim": true,               # MindSpore Serving: instances are samples of dimension 0
      "version_policy": {"latest": {"num_versions": 1}},  # or {"all": {}} or {"specific": {"versions": [1, 3]}}
      "checkpoint": "weights.ckpt",         # MindSpore checkpoint applied to every version (path relative
      "strict": true,                       #   to the model folder), as `mindinfer run --checkpoint`
      "dec_key_file": "key.bin",            # raw key of encrypted MindIR files, and their cipher mode
      "dec_mode": "AES-GCM"
    }

``PATH`` may also be a single model file: it is served as model ``<file stem>``, version 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..session import Session
from .errors import ServeConfigError

__all__ = ["MODEL_FILES", "ModelConfig", "ModelRepository", "ModelVersion", "VersionPolicy", "open_session"]

#: File names a version folder may hold, in the order they are looked for.
MODEL_FILES = ("model.mindir", "model.onnx")
_CONFIG = "config.json"
_KEYS = {
    "target",
    "options",
    "max_batch_size",
    "batch_wait_ms",
    "batch_sizes",
    "inputs",
    "outputs",
    "with_batch_dim",
    "version_policy",
    "checkpoint",
    "strict",
    "dec_key_file",
    "dec_mode",
}


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions are served: the ``latest`` N (Triton's default, N=1), ``all``, or ``specific`` ones."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: list[int]) -> list[int]:
        ordered = sorted(available)
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-self.num_versions :]

    @classmethod
    def parse(cls, value: Any, where: str) -> VersionPolicy:
        example = '{"latest": {"num_versions": 1}}, {"all": {}} or {"specific": {"versions": [1, 3]}}'
        if not isinstance(value, dict) or len(value) != 1:
            raise ServeConfigError(f"{where}: version_policy must be one of {example}, got {value!r}")
        ((kind, body),) = value.items()
        body = body or {}
        if kind == "all" and body == {}:
            return cls("all")
        if kind == "latest" and isinstance(body, dict) and set(body) <= {"num_versions"}:
            n = body.get("num_versions", 1)
            if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
                return cls("latest", num_versions=n)
        if kind == "specific" and isinstance(body, dict) and set(body) == {"versions"}:
            vs = body["versions"]
            if isinstance(vs, list) and vs and all(isinstance(v, int) and not isinstance(v, bool) for v in vs):
                return cls("specific", versions=tuple(vs))
        raise ServeConfigError(f"{where}: version_policy must be one of {example}, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """A model's ``config.json``; ``None`` means "use the server's setting"."""

    target: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    max_batch_size: int | None = None
    batch_wait_ms: float | None = None
    batch_sizes: tuple[int, ...] | None = None
    inputs: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None
    with_batch_dim: bool | None = None
    version_policy: VersionPolicy = VersionPolicy()
    #: Keywords of :class:`~mindinfer.Session` that load the model (checkpoint, strict, dec_key, dec_mode).
    load_args: Mapping[str, Any] = field(default_factory=dict, repr=False)  # may hold a key: never shown

    @classmethod
    def read(cls, path: Path) -> ModelConfig:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ServeConfigError(f"{path}: cannot read it as JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ServeConfigError(f"{path}: must hold a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise ServeConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
        where = str(path)
        return cls(
            target=_opt(data, "target", str, where),
            options=_opt(data, "options", dict, where) or {},
            max_batch_size=_count(data, "max_batch_size", where, minimum=0),
            batch_wait_ms=_wait(data, where),
            batch_sizes=_ints(data, "batch_sizes", where),
            inputs=_names(data, "inputs", where),
            outputs=_names(data, "outputs", where),
            with_batch_dim=_opt(data, "with_batch_dim", bool, where),
            version_policy=VersionPolicy.parse(data["version_policy"], where)
            if "version_policy" in data
            else VersionPolicy(),
            load_args=_load_args(data, path.parent, where),
        )


def _load_args(data: dict[str, Any], folder: Path, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if _opt(data, "checkpoint", str, where) is not None:
        out["checkpoint"] = str(folder / data["checkpoint"])
    if _opt(data, "strict", bool, where) is not None:
        out["strict"] = data["strict"]
    if _opt(data, "dec_key_file", str, where) is not None:
        key_path = folder / data["dec_key_file"]
        try:
            out["dec_key"] = key_path.read_bytes()
        except OSError as exc:
            raise ServeConfigError(
                f"{where}: dec_key_file {key_path}: cannot read it ({exc.strerror or exc})"
            ) from None
    if _opt(data, "dec_mode", str, where) is not None:
        out["dec_mode"] = data["dec_mode"]
    return out


def _opt(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, kind):
        raise ServeConfigError(f"{where}: {key} must be a {kind.__name__}, got {value!r}")
    return value


def _count(data: dict[str, Any], key: str, where: str, minimum: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ServeConfigError(f"{where}: {key} must be an integer >= {minimum}, got {value!r}")
    return value


def _wait(data: dict[str, Any], where: str) -> float | None:
    value = data.get("batch_wait_ms")
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ServeConfigError(f"{where}: batch_wait_ms must be a number >= 0, got {value!r}")
    return float(value)


def _ints(data: dict[str, Any], key: str, where: str) -> tuple[int, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and v >= 1 for v in value):
        raise ServeConfigError(f"{where}: {key} must be a non-empty list of integers >= 1, got {value!r}")
    return tuple(sorted(set(value)))


def _names(data: dict[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or len(set(value)) != len(value):
        raise ServeConfigError(f"{where}: {key} must be a list of distinct non-empty names, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class ModelVersion:
    """One version of one model: its name, version number, model file and config."""

    name: str
    version: int
    path: Path
    config: ModelConfig


def open_session(
    path: str | os.PathLike[str], target: str, options: Mapping[str, Any] | None = None, **load_args: Any
) -> Session:
    """The one place the server compiles a model: every backend, both protocols, Ray replicas.

    ``load_args`` are :class:`~mindinfer.Session`'s loading keywords (``checkpoint``, ``strict``,
    ``dec_key``, ``dec_mode``), from the command line and the model's ``config.json``.
    """
    return Session(path, target=target, options=dict(options or {}), **load_args)


class ModelRepository:
    """The models under a repository root (or one model file), with each model's config."""

    def __init__(self, root: Path, versions: list[ModelVersion]) -> None:
        self.root = root
        self.versions = versions

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ModelRepository:
        root = Path(path)
        if root.is_file():
            return cls(root, [ModelVersion(root.stem, 1, root, ModelConfig())])
        if not root.is_dir():
            raise ServeConfigError(f"{root}: no such model file or repository folder")
        found: list[ModelVersion] = []
        problems: list[str] = []
        for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            cfg_path = model_dir / _CONFIG
            config = ModelConfig.read(cfg_path) if cfg_path.is_file() else ModelConfig()
            available: dict[int, Path] = {}
            for vdir in model_dir.iterdir():
                if vdir.is_dir() and vdir.name.isdigit():
                    model_file = next((vdir / f for f in MODEL_FILES if (vdir / f).is_file()), None)
                    if model_file is None:
                        problems.append(f"{vdir}: no {' or '.join(MODEL_FILES)}")
                    else:
                        available[int(vdir.name)] = model_file
            if not available:
                problems.append(f"{model_dir}: no version folder (write {model_dir.name}/1/model.mindir)")
                continue
            for v in config.version_policy.select(list(available)):
                found.append(ModelVersion(model_dir.name, v, available[v], config))
        if not found:
            detail = "; ".join(problems) or "it is empty"
            raise ServeConfigError(
                f"{root}: no model to serve ({detail}); lay models out as {root}/NAME/VERSION/model.mindir"
            )
        return cls(root, found)
