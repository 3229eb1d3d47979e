"""Metrics: each model version's counts land on its own labelled series."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mindinfer.serve.batching import BatchStats
from mindinfer.serve.metrics import Metrics


def _value(m: Metrics, metric: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(metric, labels)


def test_counts_go_to_the_model_version_they_belong_to() -> None:
    m = Metrics()
    a: Any = SimpleNamespace(name="a", version=1)
    b: Any = SimpleNamespace(name="b", version=2)
    for _ in range(3):
        m.done("a", "1", 0.002, None)
    m.done("b", "2", 0.004, None)
    m.done("b", "2", 0.001, "RequestError")
    m.on_run(a, 3, 4)
    m.on_batch(a, BatchStats(3, (0.001, 0.002, 0.003), 0.01))
    m.on_run(b, 1, 1)

    assert _value(m, "mindinfer_requests_total", model="a", version="1") == 3
    assert _value(m, "mindinfer_request_success_total", model="a", version="1") == 3
    assert _value(m, "mindinfer_requests_total", model="b", version="2") == 2
    assert _value(m, "mindinfer_request_success_total", model="b", version="2") == 1
    assert _value(m, "mindinfer_request_failure_total", model="b", version="2", reason="RequestError") == 1
    assert _value(m, "mindinfer_request_duration_seconds_count", model="b", version="2") == 1
    assert _value(m, "mindinfer_queue_duration_seconds_count", model="a", version="1") == 3
    assert _value(m, "mindinfer_compute_duration_seconds_sum", model="a", version="1") == 0.01
    assert _value(m, "mindinfer_batch_size_sum", model="a", version="1") == 4
    assert _value(m, "mindinfer_padding_samples_total", model="a", version="1") == 1
    assert _value(m, "mindinfer_padding_samples_total", model="b", version="2") == 0
    assert b'mindinfer_batch_size_count{model="b",version="2"} 1.0' in m.exposition()
