"""BLAS thread control: the setter is found, and runs hold BLAS to one thread (no timing measured)."""

from __future__ import annotations

import pytest
from mindinfer_cpu._blas import blas_info, get_blas_threads, set_blas_threads, single_threaded_blas


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


def test_runs_hold_blas_to_one_thread_and_hand_the_count_back() -> None:
    if blas_info() == "none found" or get_blas_threads() is None:
        pytest.skip(f"no BLAS thread control here ({blas_info()})")
    before = get_blas_threads()
    set_blas_threads(2)
    try:
        with single_threaded_blas():
            with single_threaded_blas():  # a concurrent run nests
                assert get_blas_threads() == 1
            assert get_blas_threads() == 1  # the outer run is still inside
        assert get_blas_threads() == 2
    finally:
        set_blas_threads(before or 1)
