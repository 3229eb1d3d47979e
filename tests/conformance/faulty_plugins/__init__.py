"""Deliberately wrong backend plugins: the conformance suite must fail each, naming the culprit.

They wrap the real cpu backend (found through its entry point, exactly as core finds it) so that
everything but the one planted fault is right:

* :mod:`.perturb` -- ``softmax_bug`` adds 1e-2 to the output of every ``Softmax``;
* :mod:`.liar` -- ``erf_raises`` declares ``Erf`` but refuses to compile it; ``erf_garbage``
  declares ``Erf`` and computes ``tanh`` instead; ``declares_little`` declares almost nothing
  (right answers, low coverage).

Each module is a mindinfer plugin (``register_backends`` hook), so a test can register it in a
:class:`mindinfer.PluginRegistry` or install it as an entry point on a temporary ``sys.path``.
"""

from __future__ import annotations

from importlib import metadata

from mindinfer import ENTRY_POINT_GROUP, Backend, PluginRegistry

__all__ = ["cpu_backend"]


def cpu_backend() -> Backend:
    """A fresh instance of the installed cpu backend, loaded from its entry point."""
    ep = next(iter(metadata.entry_points(group=ENTRY_POINT_GROUP, name="cpu")))
    info = PluginRegistry(autoload=False).register(ep.load(), name="cpu")
    if not info.backends:
        raise RuntimeError(f"the cpu plugin did not load: {info.error_text}")
    return info.backends[0]
