"""Entry point module of the tensorrt plugin (group ``mindinfer.backends``, name ``tensorrt``).

Registers the backend and adds ``mindinfer cache`` (list and clear built engines).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from mindinfer.hookspecs import hookimpl


@hookimpl
def register_backends(register: Callable[[Any], None]) -> None:
    from .backend import TensorRTBackend

    register(TensorRTBackend())


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser(
        "cache",
        help="TensorRT engines built by the tensorrt plugin: list them with their size, or clear them",
        description="Engines live in $MINDINFER_CACHE_DIR/tensorrt (default ~/.cache/mindinfer/tensorrt). "
        "An engine is only valid for the TensorRT version, GPU and options that built it; clearing only "
        "costs a rebuild.",
    )
    p.add_argument("action", nargs="?", choices=("list", "clear"), default="list", help="default: list")
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(func=_cache_command)


def _cache_command(args: argparse.Namespace) -> int:
    from ._cache import EngineCache

    cache = EngineCache()
    if args.action == "clear":
        count, size = cache.clear()
        print(f"removed {count} file(s), {size / 2**20:.1f} MiB, from {cache.folder}")
        return 0
    entries = cache.entries()
    if args.json:
        print(json.dumps([{"key": e.key, "path": str(e.path), "size": e.size, **e.meta} for e in entries], indent=2))
        return 0
    print(f"{cache.folder}: {len(entries)} engine(s), {sum(e.size for e in entries) / 2**20:.1f} MiB")
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created))
        opts = e.meta.get("options", {})
        what = f"{e.meta.get('source', '?')}  TensorRT {e.meta.get('tensorrt', '?')}, {e.meta.get('gpu', '?')} "
        what += f"(sm {e.meta.get('compute_capability', '?')}), precision {opts.get('precision', '?')}"
        print(f"  {e.key}  {e.size / 2**20:8.1f} MiB  {when}  {what}")
    return 0
