"""What the Ray ingress says of a model before any request: it asks the model's replicas whether they
compiled it. Without Ray: a stand-in for Ray's deployment handle answers (or does not)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from mindinfer.serve import ray_app
from mindinfer.serve.errors import ModelNotReadyError
from mindinfer.serve.hub import Hub
from mindinfer.serve.model import ServeSettings
from mindinfer.serve.ray_app import RemoteModel
from mindinfer.serve.repository import ModelRepository
from serving import make_repo


class StandInHandle:
    """Stands in for a Ray deployment handle: ``load_error.remote()`` answers after ``delay`` s."""

    def __init__(self, answer: str | None, delay: float = 0.0) -> None:
        self.answer, self.delay, self.asked = answer, delay, 0
        self.load_error = self

    def remote(self) -> Any:
        self.asked += 1

        async def reply() -> str | None:
            await asyncio.sleep(self.delay)
            return self.answer

        return reply()


def _remote(tmp_path: Path, handle: StandInHandle) -> RemoteModel:
    mv = next(v for v in ModelRepository.open(make_repo(tmp_path)).versions if v.name == "dyn")
    return RemoteModel(mv, ServeSettings(), handle)


def test_a_model_its_replica_could_not_compile_is_not_ready(tmp_path: Path) -> None:
    handle = StandInHandle("option 'no_such_option' is not one of cpu's options")
    model = _remote(tmp_path, handle)
    hub = Hub([model])
    assert model.ready  # nothing asked yet
    asyncio.run(hub.refresh())
    assert not model.ready and not hub.ready
    with pytest.raises(ModelNotReadyError, match="no_such_option"):
        model.check_ready()
    asyncio.run(hub.refresh())
    assert handle.asked == 1  # the answer is kept


def test_a_model_still_starting_is_not_ready_until_its_replica_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ray_app, "PROBE_SECONDS", 0.05)
    handle = StandInHandle(None, delay=1.0)
    model = _remote(tmp_path, handle)
    asyncio.run(model.refresh())
    assert not model.ready
    model.check_ready()  # requests may still go to it: Ray queues them until a replica is up
    handle.delay = 0.0
    asyncio.run(model.refresh())
    assert model.ready and handle.asked == 2
