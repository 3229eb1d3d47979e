"""`make demo`: run the bundled LeNet-5 MindIR export on the default target and check it against MindSpore.

Exits 0 when every output matches the outputs MindSpore itself computed (stored next to the model)
within rtol=1e-4, atol=1e-5; 1 on a mismatch; 2 when mindinfer reports an error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mindinfer as mi
import numpy as np

CASE = Path(__file__).resolve().parents[1] / "conformance" / "mindinfer_conformance" / "cases" / "model" / "lenet5"
RTOL, ATOL = 1e-4, 1e-5


def main() -> int:
    model = mi.load(CASE / "model.mindir")
    inputs = [np.load(CASE / f"input_{i}.npy") for i in range(len(model.inputs))]
    expected = [np.load(CASE / f"output_{i}.npy") for i in range(len(model.outputs))]
    print(f"model: {CASE.relative_to(CASE.parents[4])}/model.mindir")
    print("inputs: " + ", ".join(str(s) for s in model.inputs))
    with mi.Session(model, target="cpu") as sess:
        outputs = sess.run(inputs)
        print(f"placement: {sess.placement}")
    ok = True
    np.set_printoptions(precision=5, suppress=True, linewidth=110)
    for spec, got, want in zip(sess.outputs, outputs, expected):
        match = got.shape == want.shape and bool(np.allclose(got, want, rtol=RTOL, atol=ATOL))
        ok &= match
        err = float(np.max(np.abs(got.astype(np.float64) - want))) if got.shape == want.shape else float("nan")
        print(f"\n{spec.name}: {got.dtype}{list(got.shape)}\n{got}")
        print(
            f"matches MindSpore's stored output (rtol={RTOL}, atol={ATOL}): {'yes' if match else 'NO'}"
            f" (max abs difference {err:.3g})"
        )
    print("\nOK: mindinfer reproduces MindSpore's outputs" if ok else "\nMISMATCH: see above")
    _where_is_the_cli()
    return 0 if ok else 1


def _where_is_the_cli() -> None:
    """The command line sits next to this Python (the venv `make demo` made), not on PATH."""
    cli = Path(sys.executable).parent / "mindinfer"
    if cli.is_file():
        rel = os.path.relpath(cli) if not os.path.relpath(cli).startswith("..") else str(cli)
        print(f"\ncommand line: {rel} (or `. {Path(rel).parent}/activate`, then `mindinfer`); try:")
        print(f"  {rel} devices")
        print(f"  {rel} run {os.path.relpath(CASE / 'model.mindir')} --print-all")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except mi.MindInferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
