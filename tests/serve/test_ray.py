"""Ray Serve scale-out: a local Ray (2 CPUs), 2 replicas per model, the v2 REST ingress driven by
tritonclient from several threads; outputs compared to MindSpore's. About 30 s: deselect with
``-m 'not ray'``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as thttp
from serving import case_io, close_to_mindspore, free_port, make_repo

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ray = pytest.importorskip("ray", reason="needs mindinfer[ray]")
serve = pytest.importorskip("ray.serve", reason="needs mindinfer[ray]")


@pytest.fixture(scope="module")
def ray_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from mindinfer.serve import ModelRepository
    from mindinfer.serve.model import ServeSettings
    from mindinfer.serve.ray_app import RayOptions, build_ray_app

    root = make_repo(tmp_path_factory.mktemp("ray"), {"dyn": {"max_batch_size": 8, "batch_wait_ms": 50}})
    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        app = build_ray_app(ModelRepository.open(root), RayOptions(replicas=2, num_cpus=0.25), ServeSettings())
        serve.run(app, name="mindinfer", route_prefix="/")
        yield f"127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def test_two_replicas_from_several_threads(ray_app: str) -> None:
    (x,), (y,) = case_io("small_cnn_dynamic_batch")
    (lx,), (ly,) = case_io("lenet5")
    failures: list[str] = []

    def client(k: int) -> None:
        c = thttp.InferenceServerClient(ray_app, network_timeout=60)
        try:
            for _ in range(4):
                if k % 4 == 3:
                    inp = thttp.InferInput("x", list(lx.shape), "FP32")
                    inp.set_data_from_numpy(lx)
                    ok = close_to_mindspore(c.infer("lenet5", [inp]).as_numpy("output"), ly)
                else:
                    s = k % 2
                    inp = thttp.InferInput("x", [1, 3, 32, 32], "FP32")
                    inp.set_data_from_numpy(x[s : s + 1], binary_data=k % 3 != 0)
                    ok = close_to_mindspore(c.infer("dyn", [inp]).as_numpy("output"), y[s : s + 1])
                if not ok:
                    failures.append(f"client {k}: wrong output")
        except Exception as exc:  # noqa: BLE001 -- collected
            failures.append(f"client {k}: {exc}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures[:3]
    status: Any = serve.status().applications["mindinfer"].deployments
    assert status["dyn-v1"].replica_states.get("RUNNING") == 2
    assert status["lenet5-v1"].replica_states.get("RUNNING") == 2
    # Requests were batched inside the replicas (by @serve.batch), and each replica ran some.
    handle = serve.get_deployment_handle("dyn-v1", app_name="mindinfer")
    sizes: list[int] = []
    for _ in range(8):
        sizes.extend(handle.batch_sizes.remote().result())
    assert max(sizes) > 1


def test_ingress_speaks_v2(ray_app: str) -> None:
    c = thttp.InferenceServerClient(ray_app)
    assert c.is_server_live() and c.is_model_ready("dyn")
    assert c.get_model_metadata("dyn")["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3, 32, 32]}]
    bad = thttp.InferInput("x", [1, 3, 31, 32], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 3, 31, 32), np.float32))
    with pytest.raises(Exception, match="dimension 2 must be 32, got 31"):
        c.infer("dyn", [bad])
