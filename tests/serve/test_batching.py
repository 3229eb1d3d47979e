"""The batching classes in plain Python (no server, no Ray): the same code runs under Ray's @serve.batch."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from mindinfer import MindInferError, PluginError
from mindinfer.serve import BatchRunner, supported_batch
from mindinfer.serve.batching import BatchStats, DynamicBatcher


class Recorder:
    """A model: y = x * 2 + row sum, per sample; records the batch sizes it was run with."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        (x,) = inputs
        self.sizes.append(x.shape[0])
        return [x * 2, x.reshape(x.shape[0], -1).sum(axis=1)]


def _req(values: list[float], width: int = 3) -> list[np.ndarray]:
    return [np.array([[v] * width for v in values], np.float32)]


def test_supported_batch() -> None:
    assert supported_batch(3, None) == 3
    assert supported_batch(3, [1, 4, 8]) == 4
    assert supported_batch(8, [1, 4, 8]) == 8
    with pytest.raises(MindInferError, match="over the largest batch size"):
        supported_batch(9, [1, 4, 8])


def test_runner_concatenates_and_splits_back() -> None:
    model = Recorder()
    runner = BatchRunner(model, max_batch_size=8)
    results = runner.run([_req([1.0]), _req([2.0, 3.0]), _req([4.0])])
    assert model.sizes == [4]
    for res, vals in zip(results, ([1.0], [2.0, 3.0], [4.0])):
        assert not isinstance(res, BaseException)
        np.testing.assert_array_equal(res[0], _req([v * 2 for v in vals])[0])
        np.testing.assert_array_equal(res[1], np.array([3 * v for v in vals], np.float32))


def test_runner_pads_to_a_supported_size_and_drops_the_padding() -> None:
    model = Recorder()
    runs: list[tuple[int, int]] = []
    runner = BatchRunner(model, max_batch_size=16, batch_sizes=[2, 4, 8], on_run=lambda n, size: runs.append((n, size)))
    assert runner.max_batch_size == 8  # never more than the backend runs
    results = runner.run([_req([1.0, 2.0, 3.0]), _req([5.0, 6.0])])
    assert model.sizes == [8] and runs == [(5, 8)]
    assert [r[0].shape[0] for r in results if not isinstance(r, BaseException)] == [3, 2]


def test_runner_chunks_by_max_batch_size_and_groups_by_sample_shape() -> None:
    model = Recorder()
    runner = BatchRunner(model, max_batch_size=3)
    reqs = [_req([1.0, 2.0]), _req([3.0, 4.0]), _req([5.0], width=5), _req([6.0])]
    results = runner.run(reqs)
    # [2] + [2] would be 4 > 3: separate runs; the width-5 request runs apart from the others.
    assert sorted(model.sizes) == [1, 2, 3]
    assert results[2][0].shape == (1, 5)  # type: ignore[index]
    np.testing.assert_array_equal(results[3][0], _req([12.0])[0])  # type: ignore[index]


def test_runner_failure_fails_each_request_in_that_run_only() -> None:
    def flaky(inputs: list[np.ndarray]) -> list[np.ndarray]:
        if inputs[0].shape[1] == 5:
            raise MindInferError("boom")
        return [inputs[0]]

    runner = BatchRunner(flaky, max_batch_size=8)
    results = runner.run([_req([1.0]), _req([2.0], width=5), _req([3.0])])
    assert isinstance(results[1], MindInferError)
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)


def test_runner_refuses_outputs_without_the_batch_dimension() -> None:
    runner = BatchRunner(lambda inputs: [np.float32(1.0) * np.ones(())], max_batch_size=4)
    (result,) = runner.run([_req([1.0])])
    assert isinstance(result, PluginError) and "max_batch_size 0" in str(result)


def test_dynamic_batcher_collects_concurrent_requests() -> None:
    model = Recorder()
    stats: list[BatchStats] = []

    async def main() -> list[list[np.ndarray]]:
        with ThreadPoolExecutor(2) as pool:
            batcher = DynamicBatcher(BatchRunner(model, 4), pool, batch_wait_ms=200, on_batch=stats.append)
            outs = await asyncio.gather(*(batcher.submit(_req([float(i)])) for i in range(10)))
            await batcher.close()
            return outs

    outs = asyncio.run(main())
    assert model.sizes == [4, 4, 2]  # full batches close at once; the last one waits out 200 ms
    assert [s.samples for s in stats] == [4, 4, 2]
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out[0], _req([2.0 * i])[0])


def test_dynamic_batcher_without_wait_runs_what_is_queued() -> None:
    model = Recorder()

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(BatchRunner(model, 8), pool, batch_wait_ms=0)
            await batcher.submit(_req([1.0]))
            await asyncio.gather(*(batcher.submit(_req([float(i)])) for i in range(3)))
            await batcher.close()

    asyncio.run(main())
    assert model.sizes[0] == 1 and sum(model.sizes) == 4


def test_dynamic_batcher_passes_errors_to_each_caller() -> None:
    def broken(inputs: list[np.ndarray]) -> list[np.ndarray]:
        raise MindInferError("backend failed")

    async def main() -> list[object]:
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(BatchRunner(broken, 4), pool)
            res = await asyncio.gather(*(batcher.submit(_req([1.0])) for _ in range(3)), return_exceptions=True)
            await batcher.close()
            return list(res)

    assert all(isinstance(r, MindInferError) and "backend failed" in str(r) for r in asyncio.run(main()))


def test_padding_sizes_from_config_or_the_backends_gears() -> None:
    from mindinfer.serve.model import padding_sizes

    assert padding_sizes((2, 4), {"batch_sizes": [8]}) == (2, 4)
    assert padding_sizes(None, {"batch_sizes": [8, 1, 4]}) == (1, 4, 8)  # the ascend plugin's ATC gears
    assert padding_sizes(None, {"threads": 2}) is None
    # TensorRT profiles: any batch from the largest min to the smallest max (pads below min).
    profile = {"x": {"min": [2, 3], "opt": [4, 3], "max": [6, 3]}, "y": {"min": [1], "opt": [4], "max": [5]}}
    assert padding_sizes(None, {"shapes": profile}) == (2, 3, 4, 5)
