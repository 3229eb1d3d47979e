"""Conformance cases: one folder per case, holding ``model.mindir``, ``input_N.npy``, ``output_N.npy``
(MindSpore's own answer; in the four ``special_*`` NaN cases a NaN-propagating answer MindSpore computes,
see the README) and ``case.json``.

Two ``case.json`` dialects are accepted. Op cases written by ``tools/make_op_cases.py`` say everything
(name, tier, primitives, dtype, rtol, atol, ``requires``, per-output tolerances). The model corpus
copied from ``shared/corpus`` says only ``note``, ``mindspore``, ``inputs`` and ``outputs`` shapes:
its tolerance defaults to rtol=1e-4, atol=1e-5 and what it requires is read from the model itself.
Either way the model is the final word on requirements: what ``case.json`` declares is merged with
what the loaded graph actually contains, so a case can never be run on a backend that lacks one of
its primitives just because its metadata forgot it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mindinfer import backend
from mindinfer.errors import MindInferError
from mindinfer.ir import CONTROL_FLOW_OPS, Model

__all__ = [
    "CASES_ROOT",
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "TIERS",
    "Case",
    "CaseError",
    "Requirements",
    "discover",
    "load_case",
    "parse_tiers",
]

#: Where the bundled cases live: ``cases/<tier>/<name>/``.
CASES_ROOT = Path(__file__).parent / "cases"
#: Tiers in the order they run; ``api`` has no case folders (its checks are code, see ``api.py``).
TIERS = ("api", "op", "model")
DATA_TIERS = ("op", "model")
DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-5


class CaseError(MindInferError):
    """A case folder is incomplete or its ``case.json`` is malformed (a bug in the suite's data)."""


@dataclass(frozen=True)
class Requirements:
    """What a backend must declare to be asked to run a case."""

    primitives: frozenset[str] = frozenset()
    dtypes: frozenset[str] = frozenset()
    dynamic_shape: bool = False
    control_flow: bool = False

    def __or__(self, other: Requirements) -> Requirements:
        return Requirements(
            self.primitives | other.primitives,
            self.dtypes | other.dtypes,
            self.dynamic_shape or other.dynamic_shape,
            self.control_flow or other.control_flow,
        )

    @classmethod
    def of_model(cls, model: Model) -> Requirements:
        """Requirements read from a loaded graph, by core's own reading (:class:`mindinfer.backend.Requirements`)."""
        req = backend.Requirements.of(model)
        return cls(
            primitives=frozenset(req.primitives),
            dtypes=frozenset(req.dtypes),
            dynamic_shape=bool(req.dynamic_shapes),
            control_flow=bool(req.control_flow),
        )

    def for_core(self) -> backend.Requirements:
        """The same needs in core's form, for :meth:`mindinfer.backend.Capabilities.missing`."""
        declared = ("<case>",)
        return backend.Requirements(
            primitives={p: declared for p in sorted(self.primitives)},
            dtypes={d: declared for d in sorted(self.dtypes)},
            dynamic_shapes=declared if self.dynamic_shape else (),
            control_flow=declared if self.control_flow else (),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "primitives": sorted(self.primitives),
            "dtypes": sorted(self.dtypes),
            "dynamic_shape": self.dynamic_shape,
            "control_flow": self.control_flow,
        }


@dataclass
class Case:
    """One conformance case. Arrays and the model are read only when the case runs."""

    name: str
    tier: str
    path: Path
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    #: Per-output ``(rtol, atol)`` overrides, by output index.
    output_tolerances: dict[int, tuple[float, float]] = field(default_factory=dict)
    #: Tolerance for reduced-precision runs (fp16/bf16), when the case overrides the dtype policy.
    cosine_min: float | None = None
    #: ``"network"``: compared by the whole-network criterion (compare.NETWORK), else element-wise.
    criterion: str = "elementwise"
    declared: Requirements = field(default_factory=Requirements)
    note: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    #: Why the case's data cannot be used (reported as a failure, never skipped silently).
    broken: str = ""
    _requirements: Requirements | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        """``tier/name``: the case's identity in reports and pytest ids."""
        return f"{self.tier}/{self.name}"

    @property
    def model_path(self) -> Path:
        return self.path / "model.mindir"

    def _arrays(self, prefix: str) -> list[np.ndarray]:
        files = sorted(self.path.glob(f"{prefix}_*.npy"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
        return [np.load(f, allow_pickle=False) for f in files]

    def inputs(self) -> list[np.ndarray]:
        """The inputs MindSpore was run on, in graph-input order."""
        return self._arrays("input")

    def expected(self) -> list[np.ndarray]:
        """MindSpore's own outputs, in graph-output order."""
        return self._arrays("output")

    def load_model(self) -> Model:
        """A freshly loaded model (never shared: a backend may keep or transform what it is given)."""
        from mindinfer import load

        if self.broken:
            raise CaseError(self.broken)
        model = load(self.model_path)
        if self._requirements is None:
            self._requirements = self.declared | Requirements.of_model(model)
        return model

    def requirements(self, model: Model | None = None) -> Requirements:
        """Declared requirements merged with the graph's own (loads the model on first call)."""
        if self._requirements is None:
            self._requirements = self.declared | Requirements.of_model(model or self.load_model())
        return self._requirements

    def tolerance(self, output: int) -> tuple[float, float]:
        """``(rtol, atol)`` of output ``output`` before the dtype/precision policy is applied."""
        return self.output_tolerances.get(output, (self.rtol, self.atol))


def load_case(path: Path, tier: str) -> Case:
    """Read one case folder; raises :class:`CaseError` saying what is missing or malformed."""
    path = Path(path)
    meta_file = path / "case.json"
    if not (path / "model.mindir").is_file():
        raise CaseError(f"conformance case {path}: model.mindir is missing")
    if not list(path.glob("output_*.npy")):
        raise CaseError(f"conformance case {path}: no output_N.npy (MindSpore's expected outputs)")
    meta: dict[str, Any] = {}
    if meta_file.is_file():
        try:
            meta = json.loads(meta_file.read_text())
        except ValueError as exc:
            raise CaseError(f"conformance case {path}: case.json is not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise CaseError(f"conformance case {path}: case.json must hold an object")
    try:
        return _from_meta(path, tier, meta)
    except (TypeError, ValueError, KeyError) as exc:
        raise CaseError(f"conformance case {path}: malformed case.json ({type(exc).__name__}: {exc})") from None


def _from_meta(path: Path, tier: str, meta: dict[str, Any]) -> Case:
    rtol = float(meta.get("rtol", DEFAULT_RTOL))
    atol = float(meta.get("atol", DEFAULT_ATOL))
    per_output: dict[int, tuple[float, float]] = {}
    for i, out in enumerate(meta.get("outputs", [])):
        if isinstance(out, dict) and ("rtol" in out or "atol" in out):
            per_output[i] = (float(out.get("rtol", rtol)), float(out.get("atol", atol)))
    req = meta.get("requires", {})
    declared = Requirements(
        primitives=frozenset(p for p in req.get("primitives", meta.get("primitives", [])) if p not in CONTROL_FLOW_OPS),
        dtypes=frozenset(req.get("dtypes", [meta["dtype"]] if "dtype" in meta else [])),
        dynamic_shape=bool(req.get("dynamic_shape", False)),
        control_flow=bool(req.get("control_flow", False)),
    )
    cosine = meta.get("cosine_min")
    return Case(
        name=str(meta.get("name", path.name)),
        tier=str(meta.get("tier", tier)),
        path=path,
        rtol=rtol,
        atol=atol,
        output_tolerances=per_output,
        cosine_min=float(cosine) if cosine is not None else None,
        criterion=str(meta.get("criterion", "elementwise")),
        declared=declared,
        note=str(meta.get("note", "")),
        meta=meta,
    )


def parse_tiers(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"api,op"`` -> ``("api", "op")`` in canonical order; ``None`` or ``"all"`` -> every tier."""
    if text is None:
        return TIERS
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if not items or items == ["all"]:
        return TIERS
    unknown = [t for t in items if t not in TIERS]
    if unknown:
        raise CaseError(f"unknown conformance tier(s) {', '.join(unknown)}; choose from {', '.join(TIERS)}")
    return tuple(t for t in TIERS if t in items)


def discover(tiers: Iterable[str] = DATA_TIERS, root: Path | None = None, select: str | None = None) -> list[Case]:
    """Every case of the given data tiers under ``root`` (default: the bundled cases), sorted by id.

    A folder whose data is incomplete still becomes a case, marked ``broken``: it fails when run.

    ``select`` keeps only cases whose id contains that substring (``--case softmax``).
    """
    base = Path(root) if root is not None else CASES_ROOT
    cases: list[Case] = []
    for tier in tiers:
        if tier not in DATA_TIERS:
            continue
        folder = base / tier
        if not folder.is_dir():
            continue
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            try:
                case = load_case(sub, tier)
            except CaseError as exc:
                case = Case(name=sub.name, tier=tier, path=sub, broken=str(exc))
            if select is None or select in case.id:
                cases.append(case)
    return cases
