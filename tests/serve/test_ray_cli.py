"""``mindinfer serve --ray`` from the command line: it starts a local Ray, serves the repository at
Ray's HTTP proxy (an encrypted model too), reports a model its replica could not compile as not
ready with the replica's own error (before any request to it), and on SIGTERM shuts Serve and Ray down and exits 0. About
25 s: deselect with ``-m 'not ray'``."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as thttp
from serving import ROOT, Server, case_io, close_to_mindspore, make_repo
from tritonclient.utils import InferenceServerException

pytestmark = [pytest.mark.ray, pytest.mark.slow]

pytest.importorskip("ray.serve", reason="needs mindinfer[ray]")
pytest.importorskip("cryptography", reason="encrypted MindIR needs mindinfer[crypto]")

CKPT = ROOT / "tests" / "data" / "checkpoints"


def test_serve_ray_command_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    (x,), (y,) = case_io("small_cnn_dynamic_batch")
    repo = make_repo(tmp_path, {"lenet5": {"options": {"no_such_option": 1}, "target": "cpu@cpu"}})
    (repo / "enc" / "1").mkdir(parents=True)
    shutil.copy(CKPT / "net_gcm.mindir", repo / "enc" / "1" / "model.mindir")
    shutil.copy(CKPT / "gcm.key", repo / "enc" / "gcm.key")
    (repo / "enc" / "config.json").write_text(json.dumps({"dec_key_file": "gcm.key", "dec_mode": "AES-GCM"}))
    server = Server(repo, "--ray", "--replicas", "1", "--ray-cpus", "0.2", wait_ready=False)
    try:
        server.wait_ready(timeout=180)
        client = thttp.InferenceServerClient(server.http, network_timeout=60)
        # Ray's proxy answers once the ingress is up; a model is ready once its replica says so.
        deadline = time.monotonic() + 120
        while not client.is_model_ready("dyn"):
            assert time.monotonic() < deadline, "dyn was not ready after 120 s"
            time.sleep(1)
        inp = thttp.InferInput("x", [2, 3, 32, 32], "FP32")
        inp.set_data_from_numpy(x[:2])
        assert close_to_mindspore(client.infer("dyn", [inp]).as_numpy("output"), y[:2])
        # The ingress reads the encrypted model's inputs with its key; the replica runs it.
        e = np.load(CKPT / "input_0.npy")
        name = client.get_model_metadata("enc")["inputs"][0]["name"]
        inp = thttp.InferInput(name, list(e.shape), "FP32")
        inp.set_data_from_numpy(e)
        result = client.infer("enc", [inp])
        out = result.as_numpy(result.get_response()["outputs"][0]["name"])
        assert close_to_mindspore(out, np.load(CKPT / "expected_gcm.npy"))
        # lenet5's replica could not compile it: before any request, its metadata and readiness say
        # so with the replica's own message (once the replica has started and answered).
        deadline = time.monotonic() + 120
        while True:
            try:
                client.get_model_metadata("lenet5")
            except InferenceServerException as exc:
                assert "no_such_option" in str(exc) and "Traceback" not in str(exc)
                break
            assert time.monotonic() < deadline, "lenet5 was still reported ready after 120 s"
            time.sleep(1)
        assert not client.is_model_ready("lenet5") and client.is_model_ready("dyn")
        (lx,), _ = case_io("lenet5")
        inp = thttp.InferInput("x", list(lx.shape), "FP32")
        inp.set_data_from_numpy(lx)
        with pytest.raises(InferenceServerException, match="no_such_option") as err:
            client.infer("lenet5", [inp])
        assert "Traceback" not in str(err.value) and "not ready" in str(err.value)
        assert not client.is_model_ready("lenet5")
        server.signal(signal.SIGTERM)
        assert server.proc.wait(120) == 0
    finally:
        server.stop()
    # (the "serving on Ray" line may not be out yet: Ray's proxy answers once the ingress is up,
    # before every model deployment is)
    assert "shutting down Ray Serve" in server.output()
