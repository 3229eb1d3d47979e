"""Networks from MindSpore's model libraries (mindyolo, mindocr, mindnlp, mindaudio) on the cpu plugin,
against MindSpore's own outputs by the whole-network criterion (opt-in: ``-m realworld``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stored_cases import REALWORLD, realworld_cases
from zoo_check import check_session

CASES = realworld_cases()

pytestmark = pytest.mark.realworld


@pytest.mark.skipif(not CASES, reason=f"no networks in {REALWORLD} (make them with tools/make_realworld.py)")
@pytest.mark.parametrize("folder", CASES, ids=[p.parent.name for p in CASES])
def test_realworld_network(folder: Path) -> None:
    check_session(folder, "cpu@cpu")
