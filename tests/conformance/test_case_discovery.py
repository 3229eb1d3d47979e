"""Case discovery and metadata: both case.json dialects, requirements read from the model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from mindinfer_conformance.cases import (
    CASES_ROOT,
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    CaseError,
    discover,
    load_case,
    parse_tiers,
)


def test_bundled_tiers_are_discovered() -> None:
    cases = discover()
    tiers = {c.tier for c in cases}
    assert tiers == {"op", "model"}
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    assert "model/lenet5" in ids
    # Every case holds MindSpore's answers (not something this project computed).
    for c in cases:
        assert c.broken or list(c.path.glob("output_*.npy")), c.id


def test_corpus_case_json_gets_default_tolerance_and_requirements_from_the_model() -> None:
    case = load_case(CASES_ROOT / "model" / "lenet5", "model")
    assert (case.rtol, case.atol) == (DEFAULT_RTOL, DEFAULT_ATOL)
    assert "Conv2D" in case.note
    req = case.requirements()
    assert {"Conv2D", "MatMul", "ReLU"} <= req.primitives
    assert req.dtypes == {"float32"} and not req.dynamic_shape and not req.control_flow
    assert case.inputs()[0].shape == (2, 1, 32, 32)
    assert case.expected()[0].shape == (2, 10)
    assert load_case(CASES_ROOT / "model" / "branchy_if", "model").requirements().control_flow
    assert load_case(CASES_ROOT / "model" / "small_cnn_dynamic_batch", "model").requirements().dynamic_shape


def test_op_case_json_declares_requirements_and_per_output_tolerances(tmp_path: Path) -> None:
    src = next(c for c in discover(("op",)) if not c.broken and c.meta.get("requires"))
    dst = tmp_path / "op" / "mine"
    shutil.copytree(src.path, dst)
    meta = json.loads((dst / "case.json").read_text())
    meta["rtol"], meta["atol"] = 1e-3, 1e-4
    meta["outputs"][0]["rtol"] = 5e-2
    meta["requires"]["primitives"] = [*meta["requires"]["primitives"], "Declared_Only"]
    (dst / "case.json").write_text(json.dumps(meta))
    case = discover(("op",), root=tmp_path)[0]
    assert case.id == f"op/{meta['name']}"
    assert case.tolerance(0)[0] == 5e-2 and case.rtol == 1e-3 and case.atol == 1e-4
    # Declared and inferred requirements are merged: the model's own primitives are always there.
    assert "Declared_Only" in case.requirements().primitives
    assert src.requirements().primitives <= case.requirements().primitives


def test_incomplete_case_folders_become_broken_cases(tmp_path: Path) -> None:
    (tmp_path / "op" / "half_written").mkdir(parents=True)
    np.save(tmp_path / "op" / "half_written" / "input_0.npy", np.zeros(2, np.float32))
    (case,) = discover(("op",), root=tmp_path)
    assert "model.mindir is missing" in case.broken
    with pytest.raises(CaseError):
        load_case(tmp_path / "op" / "half_written", "op")


def test_tiers_parse() -> None:
    assert parse_tiers("model, api") == ("api", "model")
    assert parse_tiers(None) == ("api", "op", "model")
    with pytest.raises(CaseError, match="unknown conformance tier"):
        parse_tiers("api,ops")
