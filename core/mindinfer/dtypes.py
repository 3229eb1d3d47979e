"""What a dtype-valued constant of an export means, for every backend.

MindSpore 2.x writes a dtype argument (``Cast``'s target, ``SumExt``'s ``dtype``...) as a MindSpore
``TypeId`` integer, as a type tensor (decoded to a numpy dtype by the loader) or as a type name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["TYPE_IDS", "to_numpy_dtype"]

#: MindSpore's TypeId numbers (mindspore/core/ir/dtype/type_id.h) as they appear in exported constants.
TYPE_IDS = {
    30: "bool",
    32: "int8",
    33: "int16",
    34: "int32",
    35: "int64",
    37: "uint8",
    38: "uint16",
    39: "uint32",
    40: "uint64",
    42: "float16",
    43: "float32",
    44: "float64",
}


def to_numpy_dtype(value: Any) -> np.dtype | None:
    """The numpy dtype a constant names (type id, type name, numpy dtype), or None when it names none."""
    if value is None:
        return None
    if isinstance(value, np.dtype):
        return value
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        name = TYPE_IDS.get(int(value))
        return np.dtype(name) if name else None
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("mindspore.")
        text = {"bool_": "bool", "float": "float32", "int": "int64"}.get(text, text)
        try:
            return np.dtype(text)
        except TypeError:
            return None
    return None
