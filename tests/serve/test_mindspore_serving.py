"""MindSpore Serving's protocol against the real server: its RESTful API by plain HTTP, and its own
Python client (mindspore-serving 2.0.2, unchanged) over gRPC on the server's gRPC port."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from typing import Any

import numpy as np
import pytest
from serving import MS_CLIENT, Server, case_io, close_to_mindspore


def _rest(server: Server, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{server.http}{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, json.loads(r.read())


def test_restful_instances_are_samples_of_the_batch(server: Server) -> None:
    # lenet5 has a fixed batch of 2: three instances run as two batches, the second padded.
    (x,), (y,) = case_io("lenet5")
    instances = [{"x": x[0].tolist()}, {"x": x[1].tolist()}, {"x": x[0].tolist()}]
    status, reply = _rest(server, "/model/lenet5:predict", {"instances": instances})
    assert status == 200, reply
    outs = [np.array(i["output"], np.float32) for i in reply["instances"]]
    assert len(outs) == 3
    for out, want in zip(outs, [y[0], y[1], y[0]]):
        assert close_to_mindspore(out, want)


def test_restful_dynamic_batch_and_b64(server: Server) -> None:
    (x,), (y,) = case_io("small_cnn_dynamic_batch")
    b64 = {"b64": base64.b64encode(x[1].tobytes()).decode(), "type": "fp32", "shape": list(x[1].shape)}
    status, reply = _rest(server, "/model/dyn/version/1:predict", {"instances": [{"x": x[0].tolist()}, {"x": b64}]})
    assert status == 200
    for inst, want in zip(reply["instances"], y):
        assert close_to_mindspore(np.array(inst["output"], np.float32), want)


def test_restful_two_inputs_instances_are_rows(server: Server) -> None:
    (a, b), (o0, o1) = case_io("two_in_two_out")
    # two_in_two_out's inputs [3,8] and [3,16] share dimension 0 (a fixed 3), so an instance is a row.
    status, reply = _rest(server, "/model/two:predict", {"instances": {"a": a.tolist(), "b": b.tolist()}})
    assert status == 200
    assert "input 'a': expected rank 1 [8], got rank 2 [3,8]" in reply["error_msg"]
    rows = [{"a": a[i].tolist(), "b": b[i].tolist()} for i in range(3)]
    status, reply = _rest(server, "/model/two:predict", {"instances": rows})
    got0 = np.array([i["output_0"] for i in reply["instances"]], np.float32)
    got1 = np.array([i["output_1"] for i in reply["instances"]], np.float32)
    assert close_to_mindspore(got0, o0) and close_to_mindspore(got1, o1)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/model/nope:predict", {"instances": [{"x": 1}]}, "no model named 'nope'"),
        ("/model/lenet5/version/9:predict", {"instances": [{"x": 1}]}, "has no version 9"),
        ("/model/lenet5:train", {"instances": [{"x": 1}]}, "method 'train' is not available"),
        ("/model/lenet5", {"instances": [{"x": 1}]}, "please check url"),
        ("/model/lenet5:predict", b"{oops", "Illegal JSON format"),
        ("/model/lenet5:predict", {"instance": []}, '"instances"'),
        ("/model/lenet5:predict", {"instances": [{"x": [[1.0]]}]}, "input 'x': expected rank 3 [1,32,32], got rank 2"),
    ],
)
def test_restful_errors_are_error_msg_with_200(server: Server, path: str, body: Any, message: str) -> None:
    status, reply = _rest(server, path, body)
    assert status == 200
    assert message in reply["error_msg"]


def test_restful_one_bad_instance_does_not_affect_the_others(server: Server) -> None:
    (x,), (y,) = case_io("lenet5")
    status, reply = _rest(server, "/model/lenet5:predict", {"instances": [{"x": x[0].tolist()}, {"x": [1.0, 2.0]}]})
    assert status == 200
    good, bad = reply["instances"]
    assert close_to_mindspore(np.array(good["output"], np.float32), y[0])
    assert "input 'x': expected rank 3" in bad["error_msg"]


CLIENT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from mindspore_serving.client import Client
    address, servable, inputs = sys.argv[1], sys.argv[2], np.load(sys.argv[3])
    client = Client(address, servable, "predict")
    good = client.infer([{"x": inputs[0]}, {"x": inputs[1]}])
    bad = client.infer([{"x": inputs[0]}, {"x": np.zeros((3, 3), np.float32)}])
    unknown = Client(address, "nope", "predict").infer({"x": inputs[0]})
    np.save(sys.argv[4], np.stack([r["output"] for r in good]))
    print(json.dumps({"bad": [sorted(r) for r in bad], "bad_error": bad[1].get("error", ""), "unknown": unknown}))
    """
)


@pytest.mark.skipif(not (MS_CLIENT / "mindspore_serving").is_dir(), reason="run `make test` (it fetches the client)")
@pytest.mark.parametrize(("servable", "case"), [("lenet5", "lenet5"), ("dyn", "small_cnn_dynamic_batch")])
def test_mindspore_serving_client(server: Server, tmp_path: Any, servable: str, case: str) -> None:
    (x,), (y,) = case_io(case)
    np.save(tmp_path / "x.npy", x)
    env = {
        **os.environ,
        "PYTHONPATH": str(MS_CLIENT),
        "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python",
    }
    run = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT, server.grpc, servable, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    got = np.load(tmp_path / "y.npy")
    assert close_to_mindspore(got, y)
    assert report["bad"] == [["output"], ["error"]]
    assert "input 'x': expected rank 3" in report["bad_error"]
    assert "no model named 'nope'" in report["unknown"]["error"]
