"""The .om cache: ATC runs once per key; broken entries are rebuilt; writes leave no partial files."""

from __future__ import annotations

import json
from pathlib import Path

import mindinfer
import pytest
from ascend_sim import Sim, assert_close, case
from mindinfer_ascend import atc as atc_module
from mindinfer_ascend.cache import OmCache, default_dir, make_key


@pytest.fixture
def atc_runs(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SoC of every real (simulated) atc run the backend makes."""
    runs: list[str] = []
    real = atc_module.run_atc

    def counting(job, command, timeout, model):  # type: ignore[no-untyped-def]
        runs.append(job.soc_version)
        return real(job, command, timeout, model)

    monkeypatch.setattr("mindinfer_ascend.backend.run_atc", counting)
    return runs


def _session(sim: Sim, name: str = "lenet5", **options: object) -> mindinfer.Session:
    return mindinfer.Session(case(name)[0], target="ascend", options=options, plugins=sim.registry)


def test_a_second_compile_reuses_the_om(sim: Sim, atc_runs: list[str]) -> None:
    _, ins, want = case("lenet5")
    with _session(sim) as a:
        assert_close(a.run(ins), want)
    with _session(sim) as b:
        assert_close(b.run(ins), want)
    assert atc_runs == ["Ascend910B3"]
    (om,) = sim.om_files()
    meta = json.loads(om.with_suffix(".json").read_text())
    assert meta["soc"] == "Ascend910B3" and meta["options"]["precision_mode"] == "must_keep_origin_dtype"
    assert "simulated" in meta["cann"] and len(meta["onnx_sha256"]) == 64
    assert [p.name for p in sim.cache.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_options_and_soc_are_part_of_the_key(sim: Sim, atc_runs: list[str]) -> None:
    _session(sim, "small_cnn_dynamic_batch").close()
    _session(sim, "small_cnn_dynamic_batch", precision="force_fp16").close()
    sim.reset(soc="Ascend310P3")
    _session(sim, "small_cnn_dynamic_batch").close()
    assert atc_runs == ["Ascend910B3", "Ascend910B3", "Ascend310P3"]
    metas = [json.loads(p.with_suffix(".json").read_text()) for p in sim.om_files()]
    assert sorted((m["soc"], m["options"]["precision_mode"]) for m in metas) == [
        ("Ascend310P3", "allow_fp32_to_fp16"),
        ("Ascend910B3", "force_fp16"),
        ("Ascend910B3", "must_keep_origin_dtype"),
    ]
    assert {tuple(m["options"]["batch_sizes"]) for m in metas} == {(1, 2, 4, 8, 16, 32)}
    assert len({m["onnx_sha256"] for m in metas}) == 1


def test_cache_off_compiles_every_time(sim: Sim, atc_runs: list[str]) -> None:
    _session(sim, cache=False).close()
    _session(sim, cache=False).close()
    assert len(atc_runs) == 2 and sim.om_files() == []


def test_a_corrupted_entry_is_rebuilt(sim: Sim, atc_runs: list[str]) -> None:
    _session(sim).close()
    (om,) = sim.om_files()
    om.write_bytes(om.read_bytes()[:100])  # a crash mid-copy, a full disk...
    _, ins, want = case("lenet5")
    with _session(sim) as s:
        assert_close(s.run(ins), want)
    assert len(atc_runs) == 2


def test_an_entry_acl_cannot_load_is_evicted_and_rebuilt(sim: Sim, atc_runs: list[str]) -> None:
    _session(sim).close()
    (om,) = sim.om_files()
    meta_path = om.with_suffix(".json")
    # Whole (its hash matches) but not loadable: say, written by a different toolkit.
    om.write_bytes(b"not an offline model")
    meta = json.loads(meta_path.read_text())
    meta["om_sha256"] = __import__("hashlib").sha256(b"not an offline model").hexdigest()
    meta_path.write_text(json.dumps(meta))
    _, ins, want = case("lenet5")
    with _session(sim) as s:
        assert_close(s.run(ins), want)
    assert len(atc_runs) == 2
    assert sim.acl.sim_calls().count("acl.mdl.load_from_file") == 3  # good, refused, rebuilt


def test_cache_unit(tmp_path: Path) -> None:
    cache = OmCache(tmp_path / "c")
    key, parts = make_key(b"onnx", "cann 8", "Ascend310", {"precision_mode": "force_fp16", "batch_sizes": (1, 2)})
    assert make_key(b"onnx", "cann 8", "Ascend310", {"precision_mode": "force_fp16", "batch_sizes": (1, 4)})[0] != key
    assert make_key(b"onnx", "cann 8", "Ascend310P3", {"precision_mode": "force_fp16", "batch_sizes": (1, 2)})[0] != key
    assert make_key(b"onnx2", "cann 8", "Ascend310", {"precision_mode": "force_fp16", "batch_sizes": (1, 2)})[0] != key
    assert make_key(b"onnx", "cann 8", "Ascend310", {"batch_sizes": (1, 2), "precision_mode": "force_fp16"})[0] == key
    assert make_key(b"onnx", "cann 9", "Ascend310", {"precision_mode": "force_fp16", "batch_sizes": (1, 2)})[0] != key
    assert cache.get(key) is None
    built = tmp_path / "built.om"
    built.write_bytes(b"om bytes")
    path = cache.put(key, built, parts)
    assert cache.get(key) == path and path.read_bytes() == b"om bytes"
    path.unlink()
    assert cache.get(key) is None and not cache.paths(key)[1].exists()  # half an entry is removed


def test_cache_folder_follows_the_shared_cache_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The same MINDINFER_CACHE_DIR as the tensorrt plugin's engines; MINDINFER_ASCEND_CACHE wins.
    monkeypatch.delenv("MINDINFER_ASCEND_CACHE", raising=False)
    monkeypatch.setenv("MINDINFER_CACHE_DIR", str(tmp_path / "shared"))
    assert default_dir() == tmp_path / "shared" / "ascend"
    monkeypatch.setenv("MINDINFER_ASCEND_CACHE", str(tmp_path / "own"))
    assert default_dir() == tmp_path / "own"
    monkeypatch.delenv("MINDINFER_ASCEND_CACHE")
    monkeypatch.delenv("MINDINFER_CACHE_DIR")
    assert default_dir() == Path.home() / ".cache" / "mindinfer" / "ascend"


def test_cache_folders_given_with_a_tilde_are_in_the_home_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MINDINFER_ASCEND_CACHE", raising=False)
    monkeypatch.setenv("MINDINFER_CACHE_DIR", "~/caches")
    assert default_dir() == tmp_path / "caches" / "ascend"
    monkeypatch.setenv("MINDINFER_ASCEND_CACHE", "~/om")
    assert default_dir() == tmp_path / "om"


def test_the_key_covers_every_external_data_file(tmp_path: Path) -> None:
    onnx, weights = tmp_path / "m.onnx", tmp_path / "weights.bin"
    onnx.write_bytes(b"graph")
    weights.write_bytes(b"w1")
    opts = {"precision_mode": "force_fp16"}
    bare, parts = make_key([("m.onnx", onnx)], "cann 8", "Ascend310", opts)
    assert bare == make_key(b"graph", "cann 8", "Ascend310", opts)[0]  # a lone .onnx: its bytes, as before
    assert "onnx_external_data" not in parts
    first, parts = make_key([("m.onnx", onnx), ("weights.bin", weights)], "cann 8", "Ascend310", opts)
    assert parts["onnx_external_data"] == ["weights.bin"] and first != bare
    weights.write_bytes(b"w2")
    assert make_key([("m.onnx", onnx), ("weights.bin", weights)], "cann 8", "Ascend310", opts)[0] != first


def test_the_key_holds_the_cann_version_the_probe_read(sim: Sim) -> None:
    from mindinfer_ascend.devices import cann_version

    _session(sim).close()
    (om,) = sim.om_files()
    cann = json.loads(om.with_suffix(".json").read_text())["cann"]
    assert cann == sim.device().details["cann"] == cann_version(sim.acl)
