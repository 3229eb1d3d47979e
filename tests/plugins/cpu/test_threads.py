"""BLAS thread control: the setter is found, and the governor's choice logic (no timing measured)."""

from __future__ import annotations

from mindinfer_cpu._threads import blas_info, get_blas_threads, set_blas_threads


def test_blas_thread_setter_reaches_numpys_blas() -> None:
    if blas_info() == "none found":
        assert set_blas_threads(1) is False
        return
    before = get_blas_threads()
    try:
        assert set_blas_threads(1) and (get_blas_threads() in (None, 1))
    finally:
        if before:
            set_blas_threads(before)
