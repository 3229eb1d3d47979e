"""A served model: the CPU shared between ``--workers`` runs, and unbatched runs held to ``--workers``."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mindinfer as mi
import numpy as np
import pytest
from mindinfer._plugins import set_registry
from mindinfer.backend import Option
from mindinfer.serve.model import ServedModel, ServeSettings, split_threads
from mindinfer.serve.repository import ModelRepository
from mindinfer.testing import NullBackend, null_registry
from serving import make_repo

THREADS = (Option("threads", int, None, "threads", minimum=1),)


@pytest.fixture
def cpus() -> Iterator[tuple[NullBackend, NullBackend]]:
    fast = NullBackend(options=THREADS, name="fastcpu", device_kinds=("cpu",), priority=150)
    plain = NullBackend(options=THREADS, name="plaincpu", device_kinds=("cpu",), priority=100)
    old = set_registry(null_registry(fast, plain))
    yield fast, plain
    set_registry(old)


def test_one_worker_keeps_the_options(cpus: Any) -> None:
    assert split_threads("cpu", {"x": 1}, 1, 8) == {"x": 1}


def test_workers_share_the_cores(cpus: Any) -> None:
    assert split_threads("cpu", {}, 2, 8) == {"cpu": {"threads": 4}}
    assert split_threads("cpu", {}, 3, 2) == {"cpu": {"threads": 1}}  # never 0
    assert split_threads("cpu@plaincpu", {}, 4, 8) == {"cpu@plaincpu": {"threads": 2}}
    # the alternative's own options are kept beside the threads
    assert split_threads("cpu", {"cpu": {"opt": 1}}, 2, 8) == {"cpu": {"opt": 1, "threads": 4}}


def test_threads_given_by_the_user_win(cpus: Any) -> None:
    assert split_threads("cpu", {"threads": 3}, 2, 8) == {"threads": 3}
    assert split_threads("cpu", {"cpu": {"threads": 3}}, 2, 8) == {"cpu": {"threads": 3}}


def test_the_split_reaches_the_backend_that_compiles(cpus: Any) -> None:
    fast, _ = cpus
    model = Path(__file__).resolve().parents[2] / "conformance/mindinfer_conformance/cases/model/lenet5/model.mindir"
    mi.Session(model, target="cpu", options=split_threads("cpu", {}, 2, 8))
    assert fast.received[-1]["threads"] == 4


def test_no_split_where_a_candidate_lacks_threads() -> None:
    # Passing `threads` would make a bare "cpu" skip the plugin without it, changing the placement.
    bare = NullBackend(name="bare", device_kinds=("cpu",), priority=200)
    old = set_registry(null_registry(bare, NullBackend(options=THREADS, name="plaincpu", device_kinds=("cpu",))))
    try:
        assert split_threads("cpu", {}, 2, 8) == {}
        assert split_threads("cpu@plaincpu", {}, 2, 8) == {"cpu@plaincpu": {"threads": 4}}
    finally:
        set_registry(old)


def test_only_cpu_alternatives_are_split(cpus: Any) -> None:
    gpu = NullBackend(options=THREADS, name="gpuplug", device_kinds=("gpu",))
    old = set_registry(null_registry(gpu, *cpus))
    try:
        assert split_threads("gpu,cpu", {}, 2, 8) == {"cpu": {"threads": 4}}
        assert split_threads("gpu", {}, 2, 8) == {}
    finally:
        set_registry(old)


def test_a_bad_target_is_left_to_the_model_load(cpus: Any) -> None:
    assert split_threads("cpu@nosuchplugin", {"x": 1}, 2, 8) == {"x": 1}


def test_unbatched_runs_are_held_to_the_workers(tmp_path: Path) -> None:
    repo = ModelRepository.open(make_repo(tmp_path, {"dyn": {"max_batch_size": 0}}))
    (mv,) = [v for v in repo.versions if v.name == "dyn"]
    with ThreadPoolExecutor(8) as pool:
        model = ServedModel(mv, ServeSettings(target="cpu@cpu", workers=2), pool)
        model.load()
        assert model.ready and model.max_batch_size == 0
        session = model._session
        assert session is not None
        real = session.run
        lock = threading.Lock()
        now, most = [0], [0]

        def counting(arrays: Any) -> Any:
            with lock:
                now[0] += 1
                most[0] = max(most[0], now[0])
            time.sleep(0.02)
            try:
                return real(arrays)
            finally:
                with lock:
                    now[0] -= 1

        session.run = counting  # type: ignore[method-assign]
        x = np.zeros([1, *model.inputs[0].shape[1:]], np.float32)

        async def main() -> list[Any]:
            return await asyncio.gather(*(model.infer([x]) for _ in range(8)))

        outs = asyncio.run(main())
    assert len(outs) == 8 and most[0] == 2


def test_padding_reads_the_options_of_the_alternative_that_compiled() -> None:
    from mindinfer.serve.model import options_of, padding_sizes

    profile = {"x": {"min": [1, 3], "opt": [4, 3], "max": [4, 3]}}
    given = {"gpu": {"shapes": profile}, "cpu": {"threads": 2}}
    # `--option gpu/shapes=...` for the fallback list gpu,cpu: the gpu alternative pads, cpu does not.
    assert padding_sizes(None, options_of("gpu,cpu", given, "gpu")) == (1, 2, 3, 4)
    assert padding_sizes(None, options_of("gpu,cpu", given, "cpu")) is None
    assert padding_sizes(None, options_of("gpu,cpu", given)) == (1, 2, 3, 4)  # the first, before placement
