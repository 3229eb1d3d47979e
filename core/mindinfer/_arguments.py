"""Nodes checked against their primitive's signature: every required input present.

A node whose primitive takes more arguments than it was given (a ``Load`` whose op type was
changed to ``Conv2D``: one input where two are required) cannot run anywhere. Checked once in
core, from :mod:`mindinfer.primitives`, so that no backend meets it as an ``IndexError`` of its own.
"""

from __future__ import annotations

from .errors import MindIRError
from .ir import Model
from .primitives import signature

__all__ = ["check_arguments"]


def check_arguments(model: Model) -> None:
    """Raise :class:`MindIRError` for a node that lacks a required argument of its primitive."""
    for graph in model.graphs:
        for node in graph.nodes:
            sig = signature(node.op)
            if sig is None:
                continue  # no signature: the backend's own checks apply
            for p in sig.params:
                if not p.required or p.index is None:
                    continue  # attribute-only arguments (Conv2D's out_channel) are the backend's to need
                given = (p.index is not None and p.index < len(node.inputs)) or any(a in node.attrs for a in p.attrs)
                if not given:
                    where = f"input {p.index}" + (f" or attribute {p.attrs[0]!r}" if p.attrs else "")
                    raise MindIRError(
                        f"{model.source or 'the model'}: graph '{graph.name}': node '{node.name}' ({node.op}) has "
                        f"{len(node.inputs)} input(s) but lacks the required argument '{p.name}' ({where}); "
                        "the file is corrupt or was written by an unsupported exporter"
                    )
