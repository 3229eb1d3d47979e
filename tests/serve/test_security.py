"""Bearer token (health exempt), TLS for HTTP and gRPC, and the size limit on a streamed body."""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.grpc as tgrpc
from serving import Server, case_io, close_to_mindspore
from tritonclient.utils import InferenceServerException

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def tls_server(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = Server(
        repo, "--tls-cert", str(cert), "--tls-key", str(key), env={"MINDINFER_SERVE_TOKEN": TOKEN}, wait_ready=False
    )
    ctx = ssl.create_default_context(cafile=str(cert))
    try:
        server.wait_ready(scheme="https", context=ctx)
        yield server, cert
    finally:
        server.stop()


def _get(url: str, ctx: ssl.SSLContext, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10, context=ctx) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_https_with_token(tls_server: tuple[Server, Path]) -> None:
    server, cert = tls_server
    ctx = ssl.create_default_context(cafile=str(cert))
    base = f"https://{server.http}"
    assert _get(f"{base}/v2/health/live", ctx) == 200
    assert _get(f"{base}/v2/health/ready", ctx) == 200
    assert _get(f"{base}/v2/models/dyn/ready", ctx) == 200
    assert _get(f"{base}/v2/models/dyn", ctx) == 401
    assert _get(f"{base}/v2/models/dyn", ctx, "wrong") == 401
    assert _get(f"{base}/metrics", ctx) == 401
    assert _get(f"{base}/v2/models/dyn", ctx, TOKEN) == 200
    assert _get(f"{base}/metrics", ctx, TOKEN) == 200
    # Plain HTTP is not answered on a TLS port.
    with pytest.raises((OSError, http.client.HTTPException)):
        urllib.request.urlopen(f"http://{server.http}/v2/health/live", timeout=5)


def test_grpc_over_tls_with_token(tls_server: tuple[Server, Path]) -> None:
    server, cert = tls_server
    (x,), (y,) = case_io("small_cnn_dynamic_batch")
    client = tgrpc.InferenceServerClient(server.grpc, ssl=True, root_certificates=str(cert))
    assert client.is_server_live() and client.is_model_ready("dyn")  # health needs no token
    inp = tgrpc.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException, match="bearer token"):
        client.infer("dyn", [inp])
    out = client.infer("dyn", [inp], headers={"authorization": f"Bearer {TOKEN}"}).as_numpy("output")
    assert close_to_mindspore(out, y)


def test_mindspore_serving_rest_needs_the_token_too(tls_server: tuple[Server, Path]) -> None:
    server, cert = tls_server
    ctx = ssl.create_default_context(cafile=str(cert))
    req = urllib.request.Request(f"https://{server.http}/model/dyn:predict", data=b'{"instances": []}')
    with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
        assert "bearer token" in json.loads(r.read())["error_msg"]


def test_streamed_body_over_the_limit(server: Server) -> None:
    # No Content-Length (chunked): the limit is enforced while the body arrives.
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    chunk = b" " * 65536

    def body() -> Iterator[bytes]:
        yield b'{"inputs": ['
        for _ in range(20):  # 1.3 MB of whitespace, over the 1 MB limit
            yield chunk
        yield b"]}"

    conn.request("POST", "/v2/models/dyn/infer", body=body(), encode_chunked=True)
    reply = conn.getresponse()
    assert reply.status == 413
    assert "bigger than the server's limit" in json.loads(reply.read())["error"]
