"""Structure-aware and byte-level fuzzing of the loader, Session and run (``make fuzz``).

See ``tools/mindinfer_fuzz/README.md``.
"""

from .harness import Limits, Report, Result, fuzz, seeds, write_report
from .mutate import CLASSES

__all__ = ["CLASSES", "Limits", "Report", "Result", "fuzz", "seeds", "write_report"]
