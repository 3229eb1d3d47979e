"""Where plugins keep what they compile (TensorRT engines, Ascend ``.om`` files), and how they write it.

Every plugin's cache is a folder under one root, ``$MINDINFER_CACHE_DIR`` (default
``~/.cache/mindinfer``), so that one variable moves them all; a plugin may also read a variable of
its own naming its folder outright. Entries are written with :func:`atomic_write`, so two processes
compiling the same model never leave a torn file. What an entry is keyed on and how it is checked
is the plugin's own business.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "TEMP_PREFIX", "atomic_write", "cache_root", "plugin_cache_dir"]

#: The root of every plugin's compile cache.
CACHE_DIR_ENV = "MINDINFER_CACHE_DIR"
#: How :func:`atomic_write`'s temporary files start (a cleaner may remove strays).
TEMP_PREFIX = ".tmp-"


def cache_root() -> Path:
    """``$MINDINFER_CACHE_DIR`` (``~`` expanded), else ``~/.cache/mindinfer``."""
    text = os.environ.get(CACHE_DIR_ENV)
    return Path(text).expanduser() if text else Path.home() / ".cache" / "mindinfer"


def plugin_cache_dir(name: str, own_env: str | None = None) -> Path:
    """``$own_env`` when set (the plugin's own variable, naming the folder outright), else
    ``cache_root() / name``."""
    text = os.environ.get(own_env) if own_env else None
    return Path(text).expanduser() if text else cache_root() / name


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over
    ``path`` (atomic on POSIX): a reader sees the old file or the new one, never part of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
