"""KServe v2 against the real server process: tritonclient over HTTP (binary and JSON) and gRPC, plain
HTTP requests, bad requests, 32 concurrent clients, metrics. Expected values are MindSpore's."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from mindinfer.ir import TensorSpec
from mindinfer.serve import v2
from mindinfer.serve.model import ModelEntry
from serving import CASES, MOBILENET, Server, case_io, close_to_mindspore
from tritonclient.utils import InferenceServerException


def _http_infer(client: Any, model: str, arrays: dict[str, np.ndarray], binary: bool, outputs: list[str]) -> Any:
    inputs = []
    for name, arr in arrays.items():
        inp = thttp.InferInput(name, list(arr.shape), "FP32")
        inp.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(inp)
    outs = [thttp.InferRequestedOutput(o, binary_data=binary) for o in outputs]
    return client.infer(model, inputs, outputs=outs)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize(
    ("model", "case", "inputs", "outputs"),
    [
        ("dyn", "small_cnn_dynamic_batch", ["x"], ["output"]),
        ("lenet5", "lenet5", ["x"], ["output"]),
        ("two", "two_in_two_out", ["a", "b"], ["output_0", "output_1"]),
    ],
)
def test_tritonclient_http_matches_mindspore(
    server: Server, binary: bool, model: str, case: str, inputs: list[str], outputs: list[str]
) -> None:
    xs, ys = case_io(case)
    client = thttp.InferenceServerClient(server.http)
    result = _http_infer(client, model, dict(zip(inputs, xs)), binary, outputs)
    for name, y in zip(outputs, ys):
        assert close_to_mindspore(result.as_numpy(name), y), name
    assert result.get_response()["model_name"] == model


@pytest.mark.parametrize(
    ("model", "case", "inputs", "outputs"),
    [
        ("dyn", "small_cnn_dynamic_batch", ["x"], ["output"]),
        ("two", "two_in_two_out", ["a", "b"], ["output_0", "output_1"]),
    ],
)
def test_tritonclient_grpc_matches_mindspore(
    server: Server, model: str, case: str, inputs: list[str], outputs: list[str]
) -> None:
    xs, ys = case_io(case)
    client = tgrpc.InferenceServerClient(server.grpc)
    ins = []
    for name, arr in zip(inputs, xs):
        inp = tgrpc.InferInput(name, list(arr.shape), "FP32")
        inp.set_data_from_numpy(arr)
        ins.append(inp)
    result = client.infer(model, ins, model_version="1")
    for name, y in zip(outputs, ys):
        assert close_to_mindspore(result.as_numpy(name), y), name
    # Only the output asked for comes back.
    if len(outputs) > 1:
        one = client.infer(model, ins, outputs=[tgrpc.InferRequestedOutput(outputs[1])])
        assert one.as_numpy(outputs[0]) is None
        assert close_to_mindspore(one.as_numpy(outputs[1]), ys[1])


def test_health_and_metadata(server: Server) -> None:
    h = thttp.InferenceServerClient(server.http)
    g = tgrpc.InferenceServerClient(server.grpc)
    assert h.is_server_live() and h.is_server_ready() and h.is_model_ready("dyn") and h.is_model_ready("dyn", "1")
    assert g.is_server_live() and g.is_server_ready() and g.is_model_ready("lenet5")
    assert not h.is_model_ready("nope") and not g.is_model_ready("dyn", "7")
    meta = h.get_model_metadata("dyn")
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3, 32, 32]}]
    assert meta["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 5]}]
    assert meta["platform"] == "mindinfer_mindir" and meta["versions"] == ["1"]
    gmeta = g.get_model_metadata("two", as_json=True)
    assert [i["name"] for i in gmeta["inputs"]] == ["a", "b"]
    server_meta = h.get_server_metadata()
    assert "binary_tensor_data" in server_meta["extensions"]


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_plain_http_json_infer(server: Server) -> None:
    (x,), (y,) = case_io("small_cnn_dynamic_batch")
    body = {"id": "r1", "inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.tolist()}]}
    status, reply = _post(f"http://{server.http}/v2/models/dyn/versions/1/infer", json.dumps(body).encode())
    assert status == 200, reply
    out = reply["outputs"][0]
    assert reply["id"] == "r1" and out["name"] == "output" and out["shape"] == [2, 5] and out["datatype"] == "FP32"
    assert close_to_mindspore(np.array(out["data"], np.float32).reshape(out["shape"]), y)


def test_plain_http_binary_infer(server: Server) -> None:
    (x,), (y,) = case_io("small_cnn_dynamic_batch")
    inp = thttp.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    body, json_size = thttp.InferenceServerClient.generate_request_body(
        [inp], outputs=[thttp.InferRequestedOutput("output", binary_data=True)]
    )
    req = urllib.request.Request(
        f"http://{server.http}/v2/models/dyn/infer",
        data=body,
        headers={"Inference-Header-Content-Length": str(json_size), "Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        header = int(r.headers["Inference-Header-Content-Length"])
        content = r.read()
    result = thttp.InferenceServerClient.parse_response_body(content, header_length=header)
    assert close_to_mindspore(result.as_numpy("output"), y)


def _body(shape: list[int], datatype: str, data: list[Any], name: str = "x") -> bytes:
    return json.dumps({"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}).encode()


BAD = [
    (b"{not json", "not valid JSON"),
    (b'{"inputs": 3}', '"inputs" list'),
    (_body([1, 3, 32, 32], "FP32", [1.0, 2.0]), "has 3072 elements, data has 2"),
    (_body([1, 3, 31, 32], "FP32", [0.0] * 2976), "input 'x': dimension 2 must be 32, got 31"),
    (_body([1, 3, 32, 32], "INT32", [0] * 3072), "input 'x': expected dtype float32, got int32"),
    (_body([1, 3, 32, 32], "FP99", [0] * 3072), "datatype 'FP99' is not supported"),
    (_body([1], "FP32", [0], name="y"), "unknown input 'y'"),
    (_body([17, 3, 32, 32], "FP32", [0.0] * (17 * 3072)), "over its max_batch_size 16"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_requests_are_400_with_the_reason(server: Server, body: bytes, message: str) -> None:
    status, reply = _post(f"http://{server.http}/v2/models/dyn/infer", body)
    assert status == 400, reply
    assert message in reply["error"]


def test_unknown_model_and_version(server: Server) -> None:
    body = json.dumps({"inputs": []}).encode()
    status, reply = _post(f"http://{server.http}/v2/models/nope/infer", body)
    assert status == 404 and "no model named 'nope'" in reply["error"] and "dyn" in reply["error"]
    status, reply = _post(f"http://{server.http}/v2/models/dyn/versions/3/infer", body)
    assert status == 404 and "has no version 3" in reply["error"]
    with pytest.raises(InferenceServerException, match="no model named 'nope'"):
        tgrpc.InferenceServerClient(server.grpc).get_model_metadata("nope")
    # Only the exact infer paths are infer requests; anything past them is no endpoint at all.
    status, reply = _post(f"http://{server.http}/v2/models/dyn/infer/more", body)
    assert status == 404 and reply == {"detail": "Not Found"}


def test_wrong_dtype_over_grpc(server: Server) -> None:
    client = tgrpc.InferenceServerClient(server.grpc)
    inp = tgrpc.InferInput("x", [1, 3, 32, 32], "FP64")
    inp.set_data_from_numpy(np.zeros((1, 3, 32, 32), np.float64))
    with pytest.raises(InferenceServerException, match="expected dtype float32, got float64") as err:
        client.infer("dyn", [inp])
    assert "INVALID_ARGUMENT" in str(err.value.status())


def test_oversized_body(server: Server) -> None:
    # The shared server runs with --max-request-mb 1.
    big = np.zeros((100, 3, 32, 32), np.float32)  # 1.5 MB as JSON
    body = {"inputs": [{"name": "x", "shape": list(big.shape), "datatype": "FP32", "data": big.tolist()}]}
    status, reply = _post(f"http://{server.http}/v2/models/dyn/infer", json.dumps(body).encode())
    assert status == 413 and "bigger than the server's limit of 1048576 bytes" in reply["error"]
    client = tgrpc.InferenceServerClient(server.grpc)
    inp = tgrpc.InferInput("x", [100, 3, 32, 32], "FP32")
    inp.set_data_from_numpy(np.zeros((100, 3, 32, 32), np.float32))
    with pytest.raises(InferenceServerException, match="bigger than the server's limit of 1048576 bytes") as err:
        client.infer("dyn", [inp])
    assert "RESOURCE_EXHAUSTED" in str(err.value.status())
    # Past twice the limit gRPC refuses it itself, before any of our code runs.
    inp = tgrpc.InferInput("x", [200, 3, 32, 32], "FP32")
    inp.set_data_from_numpy(np.zeros((200, 3, 32, 32), np.float32))
    with pytest.raises(InferenceServerException, match="RESOURCE_EXHAUSTED"):
        client.infer("dyn", [inp])
    # The server still answers after refusing them.
    assert thttp.InferenceServerClient(server.http).is_server_ready()


def test_32_concurrent_clients_batched_and_correct(server: Server) -> None:
    (x,), (y,) = case_io("small_cnn_dynamic_batch")
    failures: list[str] = []

    def client(k: int) -> None:
        sample = k % 2  # each client sends one of MindSpore's two samples, 4 times
        use_grpc = k % 3 == 0
        try:
            for _ in range(4):
                if use_grpc:
                    g = tgrpc.InferenceServerClient(server.grpc)
                    inp = tgrpc.InferInput("x", [1, 3, 32, 32], "FP32")
                    inp.set_data_from_numpy(x[sample : sample + 1])
                    out = g.infer("dyn", [inp]).as_numpy("output")
                else:
                    h = thttp.InferenceServerClient(server.http)
                    out = _http_infer(h, "dyn", {"x": x[sample : sample + 1]}, True, ["output"]).as_numpy("output")
                if not close_to_mindspore(out, y[sample : sample + 1]):
                    failures.append(f"client {k}: wrong output")
        except Exception as exc:  # noqa: BLE001 -- collected and reported
            failures.append(f"client {k}: {exc}")

    samples_before, runs_before = _dyn_batches(server)
    threads = [threading.Thread(target=client, args=(k,)) for k in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures[:5]
    # Batches of more than one request ran, and every sample was counted (this test's runs only:
    # the server is shared with the other tests).
    samples_after, runs_after = _dyn_batches(server)
    total, runs = samples_after - samples_before, runs_after - runs_before
    assert total >= 128 and runs < total


def _dyn_batches(server: Server) -> tuple[float, float]:
    """(samples, backend runs) of model dyn so far, from /metrics' batch-size histogram."""
    with urllib.request.urlopen(f"http://{server.http}/metrics", timeout=10) as r:
        text = r.read().decode()

    def value(prefix: str) -> float:
        found = [line for line in text.splitlines() if line.startswith(prefix)]
        return float(found[0].split()[-1]) if found else 0.0

    return value('mindinfer_batch_size_sum{model="dyn"'), value('mindinfer_batch_size_count{model="dyn"')


def test_metrics_per_model(server: Server) -> None:
    (x,), _ = case_io("lenet5")
    _http_infer(thttp.InferenceServerClient(server.http), "lenet5", {"x": x}, True, ["output"])
    _post(f"http://{server.http}/v2/models/lenet5/infer", b"{broken")
    with urllib.request.urlopen(f"http://{server.http}/metrics", timeout=10) as r:
        text = r.read().decode()
    for name in (
        "mindinfer_requests_total",
        "mindinfer_request_success_total",
        "mindinfer_request_duration_seconds_bucket",
        "mindinfer_queue_duration_seconds_bucket",
        "mindinfer_compute_duration_seconds_bucket",
        "mindinfer_batch_size_bucket",
    ):
        assert f"{name}{{" in text and 'model="lenet5"' in text, name
    assert 'mindinfer_request_failure_total{model="lenet5",reason="RequestError",version="1"}' in text


def test_batched_and_padded_mobilenet_matches_mindspore(server: Server) -> None:
    # Six single-sample requests and one of three at once: the server batches them (padding each
    # batch to 4 or 8) and every request gets its own rows of MindSpore's output back.
    x, y = np.load(MOBILENET / "input_0.npy"), np.load(MOBILENET / "output_0.npy")
    got: dict[int, Any] = {}

    def one(k: int) -> None:
        rows = slice(k, k + 1) if k < 6 else slice(0, 3)
        try:
            g = tgrpc.InferenceServerClient(server.grpc)
            inp = tgrpc.InferInput("x", list(x[rows].shape), "FP32")
            inp.set_data_from_numpy(x[rows])
            got[k] = (g.infer("mobilenet", [inp]).as_numpy("output"), y[rows])
        except Exception as exc:  # noqa: BLE001 -- reported below
            got[k] = (exc, None)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for k in range(7):
        out, want = got[k]
        assert isinstance(out, np.ndarray), out
        assert close_to_mindspore(out, want), k
    with urllib.request.urlopen(f"http://{server.http}/metrics", timeout=10) as r:
        text = r.read().decode()
    # Every backend run was padded to 4 or 8 samples (the batch-size histogram's buckets say so).
    counts = {
        line.split('le="')[1].split('"')[0]: float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("mindinfer_batch_size_bucket") and 'model="mobilenet"' in line
    }
    assert counts["2.0"] == 0 and counts["8.0"] == counts["+Inf"] > 0
    assert 'mindinfer_padding_samples_total{model="mobilenet",version="1"}' in text


def test_grpc_typed_contents_without_raw(server: Server) -> None:
    # KServe clients other than tritonclient may send InferTensorContents instead of raw bytes.
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    (a, b), (o0, o1) = case_io("two_in_two_out")
    request = service_pb2.ModelInferRequest(model_name="two")
    for name, arr in (("a", a), ("b", b)):
        t = request.inputs.add(name=name, datatype="FP32", shape=list(arr.shape))
        t.contents.fp32_contents.extend(arr.reshape(-1).tolist())
    with grpc.insecure_channel(server.grpc) as channel:
        reply = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    outs = {
        o.name: np.frombuffer(raw, np.float32).reshape(o.shape)
        for o, raw in zip(reply.outputs, reply.raw_output_contents)
    }
    assert close_to_mindspore(outs["output_0"], o0) and close_to_mindspore(outs["output_1"], o1)


def test_onnx_file_is_served(tmp_path: Any) -> None:
    # A model repository may hold model.onnx; here, lenet5 converted by the onnx plugin.
    onnx_convert = pytest.importorskip("mindinfer_onnx.convert", reason="needs the onnx plugin")
    import mindinfer

    (tmp_path / "lenet" / "1").mkdir(parents=True)
    onnx_convert.save(
        onnx_convert.convert(mindinfer.load(CASES / "lenet5" / "model.mindir")), tmp_path / "lenet" / "1" / "model.onnx"
    )
    (x,), (y,) = case_io("lenet5")
    with Server(tmp_path) as srv:
        client = thttp.InferenceServerClient(srv.http)
        meta = client.get_model_metadata("lenet")
        assert meta["platform"] == "mindinfer_onnx"
        inp = thttp.InferInput(meta["inputs"][0]["name"], list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        result = client.infer("lenet", [inp])
        assert close_to_mindspore(result.as_numpy(meta["outputs"][0]["name"]), y)


def _binary_request(*arrays: tuple[str, np.ndarray, str]) -> tuple[bytes, int]:
    inputs = []
    for name, arr, datatype in arrays:
        inp = thttp.InferInput(name, list(arr.shape), datatype)
        inp.set_data_from_numpy(arr, binary_data=True)
        inputs.append(inp)
    body, json_size = thttp.InferenceServerClient.generate_request_body(inputs)
    return body, json_size


def test_binary_inputs_are_read_in_place_aligned() -> None:
    """Put together by aligned_body, a binary tensor is an aligned, writable view of the body, not a
    copy; a tensor after an odd-sized one (or in a body read any other way) is copied to an aligned array."""
    odd = np.arange(3, dtype=np.int8)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    body, json_size = _binary_request(("x", x, "FP32"), ("odd", odd, "INT8"), ("after", x + 1, "FP32"))
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    view = v2.aligned_body(chunks, json_size)
    assert bytes(view) == body
    got = v2.decode_rest(view, json_size).inputs
    assert np.array_equal(got["x"], x) and np.array_equal(got["odd"], odd) and np.array_equal(got["after"], x + 1)
    buffer = np.frombuffer(view, np.uint8)
    assert np.shares_memory(got["x"], buffer) and got["x"].flags.writeable
    assert got["x"].ctypes.data % v2.ALIGNMENT == 0
    assert got["after"].flags.aligned and not np.shares_memory(got["after"], buffer)
    # The same request as plain bytes: every array aligned, whatever the JSON header's length.
    for pad in range(4):
        body2, size2 = _binary_request(("x" + "_" * pad, x, "FP32"))
        arr = v2.decode_rest(body2, size2).inputs["x" + "_" * pad]
        assert arr.flags.aligned and np.array_equal(arr, x)


class _Entry(ModelEntry):
    def __init__(self) -> None:
        self.name, self.version = "m", 1
        self.outputs = [TensorSpec("big_endian", (2, 3), "int32"), TensorSpec("strided", (3, 2), "float32")]


def test_binary_outputs_are_little_endian_row_major() -> None:
    outs = [np.arange(6, dtype=">i4").reshape(2, 3), np.arange(6, dtype=np.float32).reshape(2, 3).T]
    req = v2.decode_rest(json.dumps({"inputs": [], "parameters": {"binary_data_output": True}}).encode(), None)
    content, header = v2.encode_rest(_Entry(), req, outs)
    result = thttp.InferenceServerClient.parse_response_body(content, header_length=header)
    assert np.array_equal(result.as_numpy("big_endian"), outs[0]) and result.as_numpy("big_endian").dtype == np.int32
    assert np.array_equal(result.as_numpy("strided"), outs[1])


def test_chunked_binary_request_matches_mindspore(server: Server) -> None:
    """No Content-Length: the body is collected as it comes, and its tensors still run aligned."""
    (x,), (y,) = case_io("small_cnn_dynamic_batch")
    body, json_size = _binary_request(("x", x, "FP32"))
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    chunks = [body[i : i + 1001] for i in range(0, len(body), 1001)]
    conn.request(
        "POST",
        "/v2/models/dyn/infer",
        body=iter(chunks),
        headers={"Inference-Header-Content-Length": str(json_size)},
        encode_chunked=True,
    )
    reply = conn.getresponse()
    content = reply.read()
    assert reply.status == 200, content
    result = thttp.InferenceServerClient.parse_response_body(
        content, header_length=int(reply.headers["Inference-Header-Content-Length"] or len(content))
    )
    assert close_to_mindspore(result.as_numpy("output"), y)
