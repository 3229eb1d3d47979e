"""The dtypes the cpu plugin computes in; what a dtype constant means lives in mindinfer.dtypes."""

from __future__ import annotations

from mindinfer.dtypes import to_numpy_dtype

__all__ = ["SUPPORTED_DTYPES", "to_numpy_dtype"]

#: Dtypes the plugin declares; kernels compute in these (others still pass through shape ops).
SUPPORTED_DTYPES = frozenset({"float32", "float16", "int32", "int64", "bool"})
