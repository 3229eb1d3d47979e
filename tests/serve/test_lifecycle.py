"""Shutdown with requests in flight, a model that fails to load, and what the server binds to."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from serving import CASES, Server, case_io, close_to_mindspore, make_repo


def test_sigterm_finishes_requests_in_flight(tmp_path: Path) -> None:
    # Batches wait 2 s to fill, so the requests below are still in flight when SIGTERM arrives.
    repo = make_repo(tmp_path, {"dyn": {"max_batch_size": 64, "batch_wait_ms": 2000}})
    (x,), (y,) = case_io("small_cnn_dynamic_batch")
    server = Server(repo)
    results: dict[int, object] = {}

    def http_call(k: int) -> None:
        try:
            inp = thttp.InferInput("x", [1, 3, 32, 32], "FP32")
            inp.set_data_from_numpy(x[k % 2 : k % 2 + 1])
            results[k] = (
                thttp.InferenceServerClient(server.http, network_timeout=30).infer("dyn", [inp]).as_numpy("output")
            )
        except Exception as exc:  # noqa: BLE001 -- checked below
            results[k] = exc

    def grpc_call(k: int) -> None:
        try:
            inp = tgrpc.InferInput("x", [1, 3, 32, 32], "FP32")
            inp.set_data_from_numpy(x[k % 2 : k % 2 + 1])
            results[k] = tgrpc.InferenceServerClient(server.grpc).infer("dyn", [inp]).as_numpy("output")
        except Exception as exc:  # noqa: BLE001
            results[k] = exc

    try:
        threads = [threading.Thread(target=http_call if k < 4 else grpc_call, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.8)  # all eight have reached the batcher
        assert not results, results
        server.signal(signal.SIGTERM)
        time.sleep(0.3)
        # No new connections once shutdown has begun.
        with pytest.raises(ConnectionRefusedError):
            conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=5)
            conn.request("GET", "/v2/health/live")
            conn.getresponse()
        for t in threads:
            t.join(30)
        assert server.proc.wait(30) == 0
    finally:
        server.stop()
    log = server.output()
    assert "shutting down" in log and "stopped" in log
    for k in range(8):
        got = results.get(k)
        assert isinstance(got, np.ndarray), f"request {k}: {got!r}"
        assert close_to_mindspore(got, y[k % 2 : k % 2 + 1])


def test_a_model_that_fails_to_load_is_not_ready_and_the_others_serve(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "broken" / "1").mkdir(parents=True)
    (repo / "broken" / "1" / "model.mindir").write_bytes(b"not a mindir at all")
    (repo / "lenet5" / "2").mkdir()
    (repo / "lenet5" / "2" / "model.mindir").write_bytes((CASES / "lenet5" / "model.mindir").read_bytes())
    (repo / "lenet5" / "config.json").write_text(json.dumps({"version_policy": {"all": {}}, "outputs": ["logits"]}))
    (x,), (y,) = case_io("lenet5")
    # --option reaches every model (an option the plugin declares: the models serve)
    with Server(repo, "--option", "threads=1", "--workers", "2") as server:
        client = thttp.InferenceServerClient(server.http)
        assert client.is_server_ready()
        assert not client.is_model_ready("broken")
        with pytest.raises(Exception, match="model 'broken' version 1 is not ready"):
            client.get_model_metadata("broken")
        assert client.get_model_metadata("lenet5")["versions"] == ["1", "2"]
        for version in ("1", "2"):
            inp = thttp.InferInput("x", list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            out = client.infer("lenet5", [inp], model_version=version).as_numpy("logits")
            assert close_to_mindspore(out, y)
    log = server.output()
    assert "model broken version 1: not ready" in log
    assert "model lenet5 version 2: ready on cpu:0 via plugin" in log


def test_an_option_no_plugin_declares_leaves_the_models_not_ready_with_the_reason(tmp_path: Path) -> None:
    with Server(make_repo(tmp_path), "--target", "cpu@cpu", "--option", "no_such_option=1") as server:
        client = thttp.InferenceServerClient(server.http)
        assert not client.is_model_ready("lenet5")
        with pytest.raises(Exception, match="no_such_option") as err:
            client.get_model_metadata("lenet5")
    assert "not ready" in str(err.value) and "threads" in str(err.value)  # the options it does accept


def test_binds_loopback_by_default(server: Server) -> None:
    tcp = Path("/proc/net/tcp")
    if not tcp.is_file():
        pytest.skip("needs Linux's /proc/net/tcp to see listening addresses")
    listening: dict[int, set[str]] = {}
    for table in (tcp, Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:] if table.is_file() else []:
            local, state = line.split()[1], line.split()[3]
            address, port = local.split(":")
            if state == "0A":  # LISTEN
                listening.setdefault(int(port, 16), set()).add(address)
    # 127.0.0.1 in the kernel's hex, as IPv4 and as an IPv4-mapped IPv6 address (grpc listens so).
    loopback = {"0100007F", "0000000000000000FFFF00000100007F"}
    assert listening[server.http_port] and listening[server.http_port] <= loopback
    assert listening[server.grpc_port] and listening[server.grpc_port] <= loopback


def test_empty_repository_is_a_clear_error(tmp_path: Path) -> None:
    server = Server(tmp_path, wait_ready=False)
    assert server.proc.wait(60) == 2
    out = server.output()
    assert "error: " in out and "no model to serve" in out and "NAME/VERSION/model.mindir" in out
