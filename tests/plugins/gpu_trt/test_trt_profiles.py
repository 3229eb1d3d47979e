"""Optimization profiles from dynamic dimensions, the ``shapes`` option, and run-time shape checks."""

from __future__ import annotations

import pytest
from mindinfer.errors import InvalidInputError, InvalidOptionError
from mindinfer.ir import TensorSpec
from mindinfer_tensorrt._profiles import DEFAULT_BATCH, check_run_shape, check_shapes_option, derive_profiles

X = TensorSpec("x", (-1, 3, 32, 32), "float32")
STATIC = TensorSpec("y", (2, 4), "float32")


def test_dynamic_batch_gets_the_documented_default() -> None:
    (p,) = derive_profiles([X, STATIC], None)
    assert DEFAULT_BATCH == (1, 1, 32)
    assert (p.name, p.min, p.opt, p.max, p.defaulted) == ("x", (1, 3, 32, 32), (1, 3, 32, 32), (32, 3, 32, 32), True)
    assert str(p) == "min [1,3,32,32], opt [1,3,32,32], max [32,3,32,32] (default)"


def test_static_model_needs_no_profile() -> None:
    assert derive_profiles([STATIC], None) == []


def test_shapes_option_sets_the_range() -> None:
    shapes = {"x": {"min": [2, 3, 32, 32], "opt": [8, 3, 32, 32], "max": [64, 3, 32, 32]}}
    (p,) = derive_profiles([X], shapes)
    assert (p.min[0], p.opt[0], p.max[0], p.defaulted) == (2, 8, 64, False)


def test_other_dynamic_dims_have_no_default() -> None:
    seq = TensorSpec("tokens", (-1, -1), "int64")
    with pytest.raises(
        InvalidOptionError, match=r"input 'tokens' \[\?,\?\] has dynamic dimension 1.*options=\{'shapes'"
    ):
        derive_profiles([seq], None)
    (p,) = derive_profiles([seq], {"tokens": {"min": [1, 1], "opt": [1, 128], "max": [8, 512]}})
    assert p.max == (8, 512)


def test_unknown_rank_needs_the_option() -> None:
    with pytest.raises(InvalidOptionError, match="unknown rank"):
        derive_profiles([TensorSpec("z", None, "float32")], None)


@pytest.mark.parametrize(
    ("shapes", "words"),
    [
        ({"nope": {"min": [1], "opt": [1], "max": [1]}}, "names 'nope', which the model does not have"),
        ({"x": {"min": [1, 3, 32], "opt": [1, 3, 32], "max": [2, 3, 32]}}, "has rank 3, but input x"),
        ({"x": {"min": [1, 3, 32, 32], "opt": [1, 3, 32, 32], "max": [2, 3, 64, 32]}}, "fixes it to 32"),
    ],
)
def test_shapes_that_do_not_fit_the_model(shapes: dict, words: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidOptionError, match="option shapes") as err:
        derive_profiles([X], shapes)
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ([1, 2], "must be a dict"),
        ({"x": {"min": [1]}}, "exactly the keys 'min', 'opt' and 'max'"),
        ({"x": {"min": [1], "opt": [1.5], "max": [2]}}, "list of non-negative ints"),
        ({"x": {"min": [1], "opt": [True], "max": [2]}}, "list of non-negative ints"),
        ({"x": {"min": [1], "opt": [1, 1], "max": [2]}}, "same rank"),
        ({"x": {"min": [4], "opt": [2], "max": [8]}}, "min <= opt <= max, got 4, 2, 8"),
    ],
)
def test_shapes_option_form(value: object, words: str) -> None:
    problem = check_shapes_option(value)
    assert problem is not None and words in problem


def test_run_shape_outside_the_profile_names_input_profile_and_option() -> None:
    profiles = {p.name: p for p in derive_profiles([X], None)}
    check_run_shape(profiles, "x", (32, 3, 32, 32))
    check_run_shape(profiles, "y", (2, 4))  # no profile: static
    with pytest.raises(InvalidInputError) as err:
        check_run_shape(profiles, "x", (64, 3, 32, 32))
    text = str(err.value)
    assert "input 'x' has shape [64,3,32,32], outside the engine's optimization profile for 'x'" in text
    assert "max [32,3,32,32] (default)" in text
    assert "options={'shapes': {'x': {'min': [1, 3, 32, 32], 'opt': [1, 3, 32, 32], 'max': [64, 3, 32, 32]}}}" in text
