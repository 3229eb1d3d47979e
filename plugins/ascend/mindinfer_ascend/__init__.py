"""mindinfer's Ascend plugin: MindIR on Ascend NPUs through ATC offline models (.om) and pyACL.

It has never run on Ascend hardware: it is written against CANN's documentation and Ascend's samples
and tested against :mod:`mindinfer_ascend.testing.acl_simulator` (set ``MINDINFER_ASCEND_SIMULATOR=1``).
"""

from __future__ import annotations

__all__ = ["PLUGIN"]

PLUGIN = "ascend"
