"""The engine cache: serialized TensorRT engines and timing caches on disk.

Building an engine takes seconds to minutes, so each one is kept under
``$MINDINFER_CACHE_DIR/tensorrt`` (default ``~/.cache/mindinfer/tensorrt``), named by a key over
everything that makes an engine valid: the ONNX bytes, TensorRT's version, the GPU's name and compute
capability, the compile options (profiles included), the OS and CPU architecture. A plan is only
valid for the TensorRT version and GPU architecture that built it (NVIDIA: "engines are compatible
only with the version of TensorRT used to build them"), hence the key.

Each entry is ``<key>.engine`` plus ``<key>.json`` (what it was built from, its size and SHA-256).
Writes go to a temporary file in the same folder and are renamed into place, so two processes
building the same engine never leave a torn file; a lock file lets the second one wait and reuse the
first one's engine. An entry that does not match its SHA-256, or that TensorRT cannot deserialize, is
rebuilt rather than reported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mindinfer.compile_cache import TEMP_PREFIX, atomic_write, plugin_cache_dir

__all__ = ["CacheEntry", "EngineCache", "atomic_write", "cache_dir", "engine_key"]

#: Bumped when the way engines are built changes, so that old entries stop matching.
FORMAT = 1


def cache_dir() -> Path:
    return plugin_cache_dir("tensorrt")


def engine_key(
    onnx_bytes: bytes, trt_version: str, gpu_name: str, compute_capability: tuple[int, int], options: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """``(key, fields)``: a SHA-256 over every field that decides whether a plan can be reused."""
    fields = {
        "format": FORMAT,
        "onnx_sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "tensorrt": trt_version,
        "gpu": gpu_name,
        "compute_capability": f"{compute_capability[0]}.{compute_capability[1]}",
        "options": _canonical(options),
        "os": platform.system(),
        "machine": platform.machine(),
    }
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:32], fields


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path
    size: int
    meta: dict[str, Any]

    @property
    def created(self) -> float:
        return float(self.meta.get("created", self.path.stat().st_mtime if self.path.exists() else 0))


class EngineCache:
    """One folder of engines; every write is atomic."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cache_dir()

    def _engine(self, key: str) -> Path:
        return self.folder / f"{key}.engine"

    def _meta(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> bytes | None:
        """The plan stored under ``key``, or None when absent or damaged.

        A damaged entry is left for the caller to rebuild over (under :meth:`building`): while another
        process rewrites an entry, its engine and metadata may briefly disagree, and removing it then
        would only cost that process its work.
        """
        try:
            data = self._engine(key).read_bytes()
            meta = json.loads(self._meta(key).read_text())
        except (OSError, ValueError):
            return None
        if meta.get("sha256") != hashlib.sha256(data).hexdigest() or meta.get("size") != len(data):
            return None
        return data

    def store(self, key: str, plan: bytes, fields: Mapping[str, Any], **extra: Any) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = {
            **fields,
            **extra,
            "key": key,
            "size": len(plan),
            "sha256": hashlib.sha256(plan).hexdigest(),
            "created": time.time(),
        }
        # The engine first: a reader trusts an engine only once its metadata (with the hash) exists.
        atomic_write(self._engine(key), plan)
        atomic_write(self._meta(key), json.dumps(meta, indent=1).encode())
        return self._engine(key)

    def remove(self, key: str) -> None:
        for path in (self._meta(key), self._engine(key)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def entries(self) -> list[CacheEntry]:
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*.engine")):
            key = path.stem
            try:
                meta = json.loads(self._meta(key).read_text())
            except (OSError, ValueError):
                meta = {}
            with contextlib.suppress(FileNotFoundError):
                found.append(CacheEntry(key, path, path.stat().st_size, meta))
        return found

    def timing_cache_path(self, trt_version: str, compute_capability: tuple[int, int], gpu_name: str = "") -> Path:
        # TensorRT's timing cache holds tactic timings of one GPU model (an H100 and an H200 share
        # sm90 but not their timings) and one TensorRT version.
        model = re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-")
        suffix = f"-{model}" if model else ""
        return self.folder / f"timing-{trt_version}-sm{compute_capability[0]}{compute_capability[1]}{suffix}.cache"

    def clear(self) -> tuple[int, int]:
        """Remove every engine, metadata and timing cache file; returns (files, bytes) removed."""
        if not self.folder.is_dir():
            return 0, 0
        count = size = 0
        for path in self.folder.iterdir():
            if path.suffix in (".engine", ".json", ".cache", ".lock") or path.name.startswith(TEMP_PREFIX):
                with contextlib.suppress(FileNotFoundError):
                    size += path.stat().st_size
                    path.unlink()
                    count += 1
        return count, size

    @contextlib.contextmanager
    def building(self, key: str) -> Iterator[None]:
        """Hold ``<key>.lock`` while building, so a second process waits and then reuses the engine."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: no lock; atomic renames still keep every file whole
            yield
            return
        with open(self.folder / f"{key}.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
