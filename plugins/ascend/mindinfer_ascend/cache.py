"""The ``.om`` cache: ATC runs once per (ONNX graph with its weight files, CANN version, SoC, options).

An entry is ``<key>.om`` plus ``<key>.json`` recording the key's parts and the ``.om``'s SHA-256.
Both are written to a temporary file in the same folder and renamed into place (atomic on POSIX), the
``.json`` last, so a reader never sees a half-written entry. An entry whose ``.om`` is missing or whose
hash does not match is deleted and rebuilt; so is one that ACL refuses to load (the backend evicts it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mindinfer.compile_cache import atomic_write, plugin_cache_dir

__all__ = ["CACHE_ENV", "OmCache", "default_dir", "make_key"]

#: Names this plugin's cache folder itself (before ``MINDINFER_CACHE_DIR``, the root of every
#: plugin's compile cache: the tensorrt plugin's engines sit beside ours).
CACHE_ENV = "MINDINFER_ASCEND_CACHE"


def default_dir() -> Path:
    """``$MINDINFER_ASCEND_CACHE``, else ``$MINDINFER_CACHE_DIR/ascend``, else ``~/.cache/mindinfer/ascend``."""
    return plugin_cache_dir("ascend", CACHE_ENV)


def make_key(
    onnx: bytes | Sequence[tuple[str, Path]], cann_version: str, soc: str, options: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The cache key (a hex digest) and the parts it digests.

    ``onnx`` is the graph's bytes, or its files as ``(name, path)`` pairs: the ``.onnx`` first, then
    every external-data file its tensors name (read in blocks, each after its name and size, so
    that changing, renaming or moving bytes between weight files changes the key).
    """
    if isinstance(onnx, bytes):
        onnx_sha256 = hashlib.sha256(onnx).hexdigest()
    else:
        digest = hashlib.sha256()
        for i, (name, path) in enumerate(onnx):
            if i:  # the .onnx itself goes in bare: its own file name does not matter
                digest.update(f"\0{name}\0{path.stat().st_size}\0".encode())
            _update(digest, path)
        onnx_sha256 = digest.hexdigest()
    parts = {
        "onnx_sha256": onnx_sha256,
        "cann": cann_version,
        "soc": soc,
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(options.items())},
    }
    if not isinstance(onnx, bytes) and len(onnx) > 1:
        parts["onnx_external_data"] = [name for name, _ in onnx[1:]]
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]
    return key, parts


def _update(digest: Any, path: Path) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    _update(digest, path)
    return digest.hexdigest()


class OmCache:
    """A folder of compiled models."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_dir()

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.om", self.root / f"{key}.json"

    def get(self, key: str) -> Path | None:
        """The entry's ``.om`` if it is whole; a broken entry is deleted (so it gets rebuilt)."""
        om, meta = self.paths(key)
        if not meta.is_file():
            return None
        try:
            recorded = json.loads(meta.read_text())["om_sha256"]
            if om.is_file() and _sha256(om) == recorded:
                return om
        except (OSError, ValueError, KeyError, TypeError):
            pass
        self.evict(key)
        return None

    def put(self, key: str, built: Path, parts: Mapping[str, Any]) -> Path:
        """Copy ``built`` into the cache atomically; returns the cached path."""
        self.root.mkdir(parents=True, exist_ok=True)
        om, meta = self.paths(key)
        atomic_write(om, built.read_bytes())
        record = {**parts, "om_sha256": _sha256(om), "om_bytes": om.stat().st_size}
        atomic_write(meta, json.dumps(record, indent=1, sort_keys=True).encode())
        return om

    def evict(self, key: str) -> None:
        for path in self.paths(key)[::-1]:  # the .json first: without it the entry does not exist
            try:
                path.unlink()
            except FileNotFoundError:
                pass
