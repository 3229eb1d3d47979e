"""The engine cache: keys, atomic writes from concurrent processes, damaged entries, clearing."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from mindinfer_tensorrt._cache import EngineCache, atomic_write, cache_dir, engine_key

BASE = {"onnx_bytes": b"onnx", "trt_version": "10.9.0", "gpu_name": "NVIDIA H200", "compute_capability": (9, 0)}
OPTS = {"precision": "fp32", "workspace": None, "builder_optimization_level": 3, "profiles": []}


def test_cache_dir_follows_mindinfer_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MINDINFER_CACHE_DIR", raising=False)
    assert cache_dir() == Path.home() / ".cache" / "mindinfer" / "tensorrt"
    monkeypatch.setenv("MINDINFER_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path / "tensorrt"


@pytest.mark.parametrize(
    "change",
    [
        {"onnx_bytes": b"onnx2"},
        {"trt_version": "10.9.1"},
        {"gpu_name": "NVIDIA H100"},
        {"compute_capability": (8, 9)},
        {"options": {**OPTS, "precision": "fp16"}},
        {"options": {**OPTS, "profiles": [{"name": "x", "min": [1], "opt": [1], "max": [32]}]}},
        {"options": {**OPTS, "workspace": 1 << 30}},
    ],
)
def test_every_key_field_changes_the_key(change: dict) -> None:  # type: ignore[type-arg]
    key, fields = engine_key(**BASE, options=OPTS)  # type: ignore[arg-type]
    other, _ = engine_key(**{**BASE, "options": OPTS, **change})  # type: ignore[arg-type]
    assert key != other
    assert {"onnx_sha256", "tensorrt", "gpu", "compute_capability", "options", "os", "machine"} <= set(fields)


def test_key_is_stable_and_ignores_dict_order() -> None:
    a, _ = engine_key(**BASE, options=OPTS)  # type: ignore[arg-type]
    b, _ = engine_key(**BASE, options=dict(reversed(list(OPTS.items()))))  # type: ignore[arg-type]
    assert a == b and len(a) == 32


def test_store_load_and_damage(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store("k1", b"plan-bytes", {"tensorrt": "10.9.0"})
    assert cache.load("k1") == b"plan-bytes"
    assert cache.load("missing") is None
    (tmp_path / "k1.engine").write_bytes(b"plan-bytez")  # same size, other bytes
    assert cache.load("k1") is None  # a mismatch is a miss; the rebuild overwrites it
    cache.store("k2", b"plan", {})
    (tmp_path / "k2.json").write_text("{not json")
    assert cache.load("k2") is None


def test_clear_removes_engines_metadata_and_timing_caches(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store("k1", b"x" * 100, {})
    atomic_write(cache.timing_cache_path("10.9.0", (9, 0)), b"t")
    (tmp_path / "unrelated.txt").write_text("keep me")
    size = 100 + (tmp_path / "k1.json").stat().st_size + 1
    assert cache.clear() == (3, size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unrelated.txt"]


def _writer(folder: str, key: str, fill: int, rounds: int) -> None:
    cache = EngineCache(Path(folder))
    for _ in range(rounds):
        with cache.building(key):
            cache.store(key, bytes([fill]) * 3_000_000, {"writer": fill})


def test_concurrent_processes_never_leave_a_torn_entry(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), "same", fill, 5)) for fill in (1, 2)]
    for p in procs:
        p.start()
    seen = set()
    cache = EngineCache(tmp_path)
    while any(p.is_alive() for p in procs):
        data = cache.load("same")
        if data is not None:
            assert len(data) == 3_000_000 and len(set(data)) == 1
            seen.add(data[0])
    for p in procs:
        p.join()
        assert p.exitcode == 0
    data = cache.load("same")
    assert data is not None and len(set(data)) == 1
    assert json.loads((tmp_path / "same.json").read_text())["writer"] == data[0]
    assert not list(tmp_path.glob(".tmp-*"))
