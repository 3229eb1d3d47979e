"""The file the ATC *simulator* writes in place of a real ``.om``: a header, then the ONNX graph.

A real ``.om`` is a compiled DaVinci program that only CANN can read; this one says plainly what it is
(its first line) so that nothing mistakes one for the other. The ACL simulator loads it and runs the
ONNX graph with onnxruntime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["MAGIC", "read", "write"]

MAGIC = b"MINDINFER-SIMULATED-OM (not a real Ascend offline model)\n"


def write(path: Path, header: dict[str, Any], onnx_bytes: bytes) -> None:
    path.write_bytes(MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + onnx_bytes)


def read(path: str | Path) -> tuple[dict[str, Any], bytes] | None:
    """``(header, onnx bytes)``, or None when the file is not a simulated .om."""
    data = Path(path).read_bytes()
    if not data.startswith(MAGIC):
        return None
    rest = data[len(MAGIC) :]
    line, _, onnx_bytes = rest.partition(b"\n")
    try:
        return json.loads(line), onnx_bytes
    except ValueError:
        return None
