"""Fixtures for the serving tests: one shared server on a repository of stored cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serving import Server, make_repo

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'mindinfer[serve]'")
pytest.importorskip("tritonclient.http", reason="needs tritonclient[http,grpc] (the serve-test extra)")


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # lenet5 and two_in_two_out have a fixed dimension 0 (2 and 3): served unbatched; dyn and
    # mobilenet have -1; mobilenet's batches are padded to the sizes a backend would say it runs.
    configs = {"dyn": {"max_batch_size": 16}, "mobilenet": {"max_batch_size": 8, "batch_sizes": [4, 8]}}
    return make_repo(tmp_path_factory.mktemp("repo"), configs, mobilenet=True)


@pytest.fixture(scope="session")
def server(repo: Path) -> Iterator[Server]:
    with Server(repo, "--max-request-mb", "1") as s:
        yield s
