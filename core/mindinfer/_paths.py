"""Checking where a command will write, before it does any work.

A conformance run or a conversion can take minutes; a typo in ``--report`` or ``-o`` must fail at
once, in one line, not after the work is done.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import MindInferError

__all__ = ["check_output_dir", "check_output_file"]


def check_output_file(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` if a file can be written there: not a folder, in an existing, writable folder."""
    p = Path(path)
    if p.is_dir():
        raise MindInferError(f"{option} {p}: is a directory; give a file path, e.g. {p / 'out'}")
    parent = p.parent
    if not parent.exists():
        raise MindInferError(f"{option} {p}: the folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise MindInferError(f"{option} {p}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise MindInferError(f"{option} {p}: not writable here (permission denied)")
    return p


def check_output_dir(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` if files can be written into it: an existing writable folder, or one that can be made."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise MindInferError(f"{option} {p}: is a file; give a folder (it is created if missing)")
    existing = p
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise MindInferError(f"{option} {p}: {existing} is a file, so the folder cannot be created there")
    if not os.access(existing, os.W_OK):
        raise MindInferError(f"{option} {p}: {existing} is not writable (permission denied)")
    return p
