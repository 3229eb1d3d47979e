"""BLAS thread control: the setter is found, and the governor's choice logic (no timing measured)."""

from __future__ import annotations

from mindinfer_cpu._threads import ThreadGovernor, blas_info, get_blas_threads, set_blas_threads


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


def test_governor_tries_both_then_keeps_the_faster() -> None:
    gov = ThreadGovernor(2)
    key = ((1, 3, 8, 8),)
    assert gov.choose(key) == 2
    gov.record(key, 2, 0.030)  # contention: two threads slow
    assert gov.choose(key) == 1
    gov.record(key, 1, 0.010)
    picks = []
    for _ in range(40):
        n = gov.choose(key)
        picks.append(n)
        gov.record(key, n, 0.010 if n == 1 else 0.030)
    assert picks.count(1) > picks.count(2) >= 1  # mostly the faster one, the other re-tried now and then


def test_governor_backs_off_from_a_clear_loser() -> None:
    gov = ThreadGovernor(2)
    key = "k"
    tries = 0
    for _ in range(600):
        n = gov.choose(key)
        tries += n == 2
        gov.record(key, n, 0.001 if n == 1 else 0.050)
    assert tries < 12  # exponential back-off: 8, 16, 32 ... runs between re-tries


def test_governor_with_one_thread_never_switches() -> None:
    gov = ThreadGovernor(1)
    assert all(gov.choose("k") == 1 for _ in range(5))
