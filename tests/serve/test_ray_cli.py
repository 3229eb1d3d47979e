"""``mindinfer serve --ray`` from the command line: it starts a local Ray, serves the repository at
Ray's HTTP proxy, and on SIGTERM shuts Serve and Ray down and exits 0. About 25 s: deselect with
``-m 'not ray'``."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import tritonclient.http as thttp
from serving import Server, case_io, close_to_mindspore, make_repo

pytestmark = [pytest.mark.ray, pytest.mark.slow]

pytest.importorskip("ray.serve", reason="needs mindinfer[ray]")


def test_serve_ray_command_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    (x,), (y,) = case_io("small_cnn_dynamic_batch")
    server = Server(make_repo(tmp_path), "--ray", "--replicas", "1", "--ray-cpus", "0.25", wait_ready=False)
    try:
        server.wait_ready(timeout=180)
        client = thttp.InferenceServerClient(server.http, network_timeout=60)
        assert client.is_model_ready("dyn")
        inp = thttp.InferInput("x", [2, 3, 32, 32], "FP32")
        inp.set_data_from_numpy(x[:2])
        assert close_to_mindspore(client.infer("dyn", [inp]).as_numpy("output"), y[:2])
        server.signal(signal.SIGTERM)
        assert server.proc.wait(120) == 0
    finally:
        server.stop()
    # (the "serving on Ray" line may not be out yet: Ray's proxy answers once the ingress is up,
    # before every model deployment is)
    assert "shutting down Ray Serve" in server.output()
