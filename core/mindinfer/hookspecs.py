"""The plugin hooks: what a mindinfer plugin module may implement.

A plugin is a module named by an entry point of the group ``mindinfer.backends``::

    [project.entry-points."mindinfer.backends"]
    mybackend = "mybackend_pkg.plugin"

and marks its hook functions with :data:`hookimpl`::

    import mindinfer

    @mindinfer.hookimpl
    def register_backends(register):
        register(MyBackend())

Each hook is called once per plugin, separately, so that a plugin raising in its hook is recorded
and left out without affecting the others (see ``mindinfer plugins``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .backend import Backend
    from .ir import ForeignModel

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "open_foreign_model",
    "open_model",
    "register_backends",
    "register_commands",
]

PROJECT_NAME = "mindinfer"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a plugin's implementation of a hook below.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_backends(register: Callable[[Backend], None]) -> None:
    """Register the plugin's backends by calling ``register(backend)`` once per backend object.

    Runs once, when mindinfer first needs its plugins (a Session, ``mindinfer plugins``...).
    Each backend must declare ``name``, ``contract_version`` (core supports
    :data:`mindinfer.backend.SUPPORTED_CONTRACT_VERSIONS`), ``device_kinds``, ``priority``,
    ``capabilities``, ``options`` (the compile options it accepts, as :class:`mindinfer.Option` s;
    ``()`` for none), ``devices()`` and ``compile()``; subclass :class:`mindinfer.BackendBase`.
    If the hook raises, or a backend breaks the contract, the whole plugin is left out and its
    error recorded. Results are not used (all implementations run).
    """


@hookspec
def register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add subcommands to the ``mindinfer`` command line.

    Runs when the CLI builds its parser, after the built-in commands. Add a parser with
    ``p = subparsers.add_parser("convert", help=...)`` and set its handler with
    ``p.set_defaults(func=handler)``; ``handler(args) -> int | None`` returns the exit status.
    Raise a :class:`mindinfer.MindInferError` for user errors: the CLI prints it as one line.
    A plugin raising here is left out of the CLI with a warning. Results are not used.
    """


@hookspec(firstresult=True)
def open_foreign_model(path: str) -> ForeignModel | None:
    """Open a model file that is not MindIR (``.onnx``...), or return ``None`` to pass.

    Runs when ``Session(path)`` or ``mindinfer inspect/run/bench`` is given a path that does
    not end in ``.mindir``, before it is tried as MindIR. The first non-``None`` result wins.
    Return a :class:`mindinfer.ir.ForeignModel`; backends declaring its ``format`` in their
    ``capabilities.formats`` can then compile it.
    """


@hookspec(firstresult=True, warn_on_impl=DeprecationWarning("implement open_foreign_model instead of open_model"))
def open_model(path: str) -> ForeignModel | None:
    """Deprecated name of :func:`open_foreign_model` (contract version 1 as first published).

    Kept so that plugins written against it still load and still open their files; core asks
    these implementations after the ``open_foreign_model`` ones. New plugins implement
    ``open_foreign_model``.
    """
