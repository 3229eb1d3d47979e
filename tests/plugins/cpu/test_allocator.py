"""The cpu backend keeps freed memory for reuse (glibc mallopt), unless told or unable to."""

from __future__ import annotations

import platform
from typing import Any

import mindinfer_cpu._allocator as alloc
import pytest


class _FakeLibc:
    def __init__(self, result: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.result = result

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return self.result


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> _FakeLibc:
    """A process where nothing was applied yet, with a recording libc and no user settings."""
    fake = _FakeLibc()
    monkeypatch.setattr(alloc, "_status", None)
    monkeypatch.setattr(alloc.ctypes, "CDLL", lambda name: fake)
    monkeypatch.setattr(alloc.platform, "libc_ver", lambda: ("glibc", "2.36"))
    for name in (alloc.ENV, *alloc._GLIBC_ENV):
        monkeypatch.delenv(name, raising=False)
    return fake


def test_applies_both_thresholds_once(fresh: _FakeLibc) -> None:
    first = alloc.keep_freed_memory()
    assert first.startswith("keeps freed memory")
    assert fresh.calls == [(alloc.M_MMAP_MAX, 0), (alloc.M_TRIM_THRESHOLD, 1 << 30)]
    assert alloc.keep_freed_memory() == first and len(fresh.calls) == 2
    assert alloc.allocator_status() == first


@pytest.mark.parametrize(("name", "value"), [("MINDINFER_CPU_KEEP_MEMORY", "0"), ("MALLOC_TRIM_THRESHOLD_", "4096"), ("MALLOC_MMAP_MAX_", "8"),
                                             ("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536")])  # fmt: skip
def test_user_settings_are_left_alone(fresh: _FakeLibc, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    assert name in alloc.allocator_status()
    status = alloc.keep_freed_memory()
    assert status.startswith("left as it was") and name in status
    assert fresh.calls == []


def test_unrelated_glibc_tunables_do_not_count(fresh: _FakeLibc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.cpu.hwcaps=-AVX512F")
    assert alloc.keep_freed_memory().startswith("keeps freed memory")


def test_other_c_libraries_are_left_alone(fresh: _FakeLibc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alloc.platform, "libc_ver", lambda: ("", ""))
    assert alloc.keep_freed_memory() == "left as it was (not glibc)"
    assert fresh.calls == []


def test_a_refusal_is_reported(fresh: _FakeLibc) -> None:
    fresh.result = 0
    assert alloc.keep_freed_memory() == "left as it was (glibc refused the settings)"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_compile_applies_it_for_real(backend: Any, device: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """On this glibc the real mallopt accepts the settings, and the device details then say so."""
    import mindinfer
    from cpu_cases import CASES

    monkeypatch.setattr(alloc, "_status", None)
    for name in (alloc.ENV, *alloc._GLIBC_ENV):
        monkeypatch.delenv(name, raising=False)
    backend.compile(mindinfer.load(CASES / "model" / "lenet5" / "model.mindir"), device, {})
    assert alloc.allocator_status().startswith("keeps freed memory")
    assert backend.devices()[0].details["allocator"] == alloc.allocator_status()
