"""The conformance suite as a mindinfer plugin: it registers no backend, only ``mindinfer conformance``.

Entry point: ``[project.entry-points."mindinfer.backends"] conformance = "mindinfer_conformance.plugin"``.
The command's module is imported only when the CLI builds its parser, never by a Session.
"""

from __future__ import annotations

import argparse
from typing import Any

from mindinfer.hookspecs import hookimpl


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    from .cli import add_parser

    add_parser(subparsers)
