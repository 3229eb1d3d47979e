"""Triton's system shared-memory extension against the real server: tritonclient puts tensors in POSIX
shared memory and registers them (HTTP and gRPC); outputs come back there. Expected values are
MindSpore's."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
import tritonclient.utils.shared_memory as shm
from mindinfer.serve.errors import RequestError
from mindinfer.serve.grpc_server import _peer_host
from mindinfer.serve.shm import NO_SHM, SharedMemoryRegions, ShmRef, is_loopback, shm_ref
from mindinfer.serve.v2 import decode_rest
from serving import Server, case_io, close_to_mindspore
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="system shared memory needs Linux's /dev/shm")

PROTOCOLS = {"http": thttp, "grpc": tgrpc}


class Regions:
    """Shared-memory objects made as a tritonclient user makes them, removed afterwards."""

    def __init__(self) -> None:
        self.handles: list[Any] = []

    def make(self, nbytes: int, data: np.ndarray | None = None) -> tuple[str, str, Any]:
        name = f"mi-{uuid.uuid4().hex[:10]}"
        handle = shm.create_shared_memory_region(name, "/" + name, nbytes)
        self.handles.append(handle)
        if data is not None:
            shm.set_shared_memory_region(handle, [np.ascontiguousarray(data)])
        return name, "/" + name, handle

    def close(self) -> None:
        for h in self.handles:
            shm.destroy_shared_memory_region(h)


@pytest.fixture
def regions() -> Iterator[Regions]:
    r = Regions()
    yield r
    r.close()


def client_for(server: Server, protocol: str) -> Any:
    mod = PROTOCOLS[protocol]
    return mod.InferenceServerClient(server.grpc if protocol == "grpc" else server.http)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_inputs_and_outputs_in_shared_memory_match_mindspore(server: Server, regions: Regions, protocol: str) -> None:
    mod = PROTOCOLS[protocol]
    client = client_for(server, protocol)
    (a, b), (y0, y1) = case_io("two_in_two_out")
    in_name, in_key, _ = regions.make(a.nbytes, a)
    out_name, out_key, out_handle = regions.make(y0.nbytes + 64)
    client.register_system_shared_memory(in_name, in_key, a.nbytes)
    client.register_system_shared_memory(out_name, out_key, y0.nbytes + 64)
    try:
        # Input a in shared memory, b in the request; output_0 written to shared memory, output_1 sent.
        ia = mod.InferInput("a", list(a.shape), "FP32")
        ia.set_shared_memory(in_name, a.nbytes)
        ib = mod.InferInput("b", list(b.shape), "FP32")
        ib.set_data_from_numpy(b)
        o0 = mod.InferRequestedOutput("output_0")
        o0.set_shared_memory(out_name, y0.nbytes + 64)
        o1 = mod.InferRequestedOutput("output_1")
        result = client.infer("two", [ia, ib], outputs=[o0, o1])
        assert close_to_mindspore(result.as_numpy("output_1"), y1)
        meta = result.get_output("output_0")
        shape = list(meta["shape"] if protocol == "http" else meta.shape)
        assert shape == list(y0.shape)
        assert close_to_mindspore(shm.get_contents_as_numpy(out_handle, np.float32, shape), y0)
        status = client.get_system_shared_memory_status()
        names = {r["name"] for r in status} if protocol == "http" else set(status.regions)
        assert {in_name, out_name} <= names
    finally:
        client.unregister_system_shared_memory(in_name)
        client.unregister_system_shared_memory(out_name)
    status = client.get_system_shared_memory_status()
    names = {r["name"] for r in status} if protocol == "http" else set(status.regions)
    assert not {in_name, out_name} & names


def test_batched_requests_from_shared_memory(server: Server, regions: Regions) -> None:
    """Eight clients at once, each with its own regions, on a batched model: every reply is its own."""
    (x,), (y,) = case_io("small_cnn_dynamic_batch")
    wrong: list[str] = []

    def one(k: int) -> None:
        client = thttp.InferenceServerClient(server.http)
        s = k % x.shape[0]
        sample = x[s : s + 1]
        name, key, _ = regions.make(sample.nbytes, sample)
        out, out_key, out_handle = regions.make(y[s : s + 1].nbytes)
        client.register_system_shared_memory(name, key, sample.nbytes)
        client.register_system_shared_memory(out, out_key, y[s : s + 1].nbytes)
        inp = thttp.InferInput("x", list(sample.shape), "FP32")
        inp.set_shared_memory(name, sample.nbytes)
        req = thttp.InferRequestedOutput("output")
        req.set_shared_memory(out, y[s : s + 1].nbytes)
        for _ in range(5):
            client.infer("dyn", [inp], outputs=[req])
            got = shm.get_contents_as_numpy(out_handle, np.float32, list(y[s : s + 1].shape))
            if not close_to_mindspore(got, y[s : s + 1]):
                wrong.append(f"client {k}")
        client.unregister_system_shared_memory(name)
        client.unregister_system_shared_memory(out)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong


def _message(call: Any) -> str:
    with pytest.raises(InferenceServerException) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_bad_registrations_and_requests_are_refused_clearly(server: Server, regions: Regions, protocol: str) -> None:
    mod = PROTOCOLS[protocol]
    client = client_for(server, protocol)
    missing = f"/mi-missing-{uuid.uuid4().hex[:8]}"
    assert "does not exist" in _message(lambda: client.register_system_shared_memory("r", missing, 16))
    assert "not a POSIX shared-memory name" in _message(
        lambda: client.register_system_shared_memory("r", "/../etc/passwd", 16)
    )
    name, key, _ = regions.make(64)
    assert "runs past the end" in _message(lambda: client.register_system_shared_memory(name, key, 64, offset=8))
    client.register_system_shared_memory(name, key, 64)
    try:
        assert "already registered" in _message(lambda: client.register_system_shared_memory(name, key, 64))
        (x,), _ = case_io("small_cnn_dynamic_batch")
        sample = x[:1]
        inp = mod.InferInput("x", list(sample.shape), "FP32")
        inp.set_shared_memory("no-such-region", sample.nbytes)
        assert "no shared-memory region named 'no-such-region'" in _message(lambda: client.infer("dyn", [inp]))
        inp.set_shared_memory(name, sample.nbytes)  # the region has 64 bytes
        assert "runs past the end of region" in _message(lambda: client.infer("dyn", [inp]))
        inp.set_shared_memory(name, 64)  # the right region, the wrong size for the shape
        assert f"takes {sample.nbytes} bytes, got 64" in _message(lambda: client.infer("dyn", [inp]))
        # An output place too small for the output is refused when the output is written.
        ok = mod.InferInput("x", list(sample.shape), "FP32")
        ok.set_data_from_numpy(sample)
        out = mod.InferRequestedOutput("output")
        out.set_shared_memory(name, 4)
        assert "more than its shared_memory_byte_size 4" in _message(lambda: client.infer("dyn", [ok], outputs=[out]))
        assert "no shared-memory region named 'nope'" in _message(
            lambda: client.get_system_shared_memory_status("nope")
        )
    finally:
        client.unregister_system_shared_memory(name)


def test_server_metadata_lists_the_extension(server: Server) -> None:
    assert "system_shared_memory" in thttp.InferenceServerClient(server.http).get_server_metadata()["extensions"]
    assert "system_shared_memory" in tgrpc.InferenceServerClient(server.grpc).get_server_metadata().extensions


def test_parameters_are_checked() -> None:
    assert shm_ref({}, "input 'x'") is None
    assert shm_ref({"shared_memory_region": "r", "shared_memory_byte_size": 8}, "x") == ShmRef("r", 8, 0)
    with pytest.raises(RequestError, match="needs shared_memory_byte_size"):
        shm_ref({"shared_memory_region": "r"}, "input 'x'")
    bad = (
        b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"outputs":[{"name":"y","parameters":[1]}]}'
    )
    with pytest.raises(RequestError, match="output 'y': parameters must be an object"):
        decode_rest(bad, None, SharedMemoryRegions())
    with pytest.raises(RequestError, match="shared_memory_offset must be an integer >= 0"):
        shm_ref({"shared_memory_region": "r", "shared_memory_byte_size": 8, "shared_memory_offset": -1}, "x")


def test_a_server_without_regions_says_why() -> None:
    """Ray Serve's ingress has no regions: a shared-memory tensor is refused with the reason."""
    body = b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"shared_memory_region":"r","shared_memory_byte_size":4}}]}'
    with pytest.raises(RequestError, match="does not serve system shared memory"):
        decode_rest(body, None, None)
    assert "under --ray" in NO_SHM


def test_unregistering_keeps_arrays_in_use_valid(regions: Regions) -> None:
    _, key, _ = regions.make(16, np.arange(4, dtype=np.float32))
    reg = SharedMemoryRegions()
    reg.register("r", key, 0, 16)
    view = np.frombuffer(reg.read(ShmRef("r", 16), "x"), np.float32)
    reg.unregister("r")  # a request may still be using the view: the mapping lives until it is gone
    assert view.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert reg.status() == []


def test_only_this_machine_may_register() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.0.0.2") and not is_loopback("") and not is_loopback("unix:/tmp/s")
    assert _peer_host("ipv4:127.0.0.1:5123") == "127.0.0.1"
    assert _peer_host("ipv6:%5B::1%5D:5123") == "::1"
    assert _peer_host("ipv6:[::1]:5123") == "::1"
    assert _peer_host("unix:/tmp/sock") == ""


def _outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None without one."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))
        except OSError:
            return None
        host = str(s.getsockname()[0])
    return None if is_loopback(host) else host


def test_a_peer_from_another_address_cannot_register(repo: Any, regions: Regions) -> None:
    """Through the machine's outward address the peer is not loopback: registration is refused."""
    host = _outward_address()
    if host is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    name, key, _ = regions.make(64)
    with Server(repo, "--host", "0.0.0.0") as server:
        h = thttp.InferenceServerClient(f"{host}:{server.http_port}")
        g = tgrpc.InferenceServerClient(f"{host}:{server.grpc_port}")
        for client in (h, g):
            message = _message(lambda c=client: c.register_system_shared_memory(name, key, 64))
            assert f"shared memory is for clients on the server's machine; this request came from {host}" in message
        assert thttp.InferenceServerClient(server.http).get_system_shared_memory_status() == []
