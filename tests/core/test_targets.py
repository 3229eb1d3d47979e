"""The device target grammar."""

from __future__ import annotations

import pytest
from mindinfer import InvalidTargetError, parse_target
from mindinfer.targets import DeviceTarget


def one(text: str, extra: tuple[str, ...] = ()) -> DeviceTarget:
    target = parse_target(text, extra)
    assert len(target.alternatives) == 1
    return target.alternatives[0]


@pytest.mark.parametrize(
    "text, kind",
    [
        ("cpu", "cpu"),
        ("CPU", "cpu"),
        ("gpu", "gpu"),
        ("GPU", "gpu"),
        ("Ascend", "ascend"),
        ("ascend", "ascend"),
        (" Cpu ", "cpu"),
    ],
)
def test_kinds_any_case_including_mindspore_spelling(text: str, kind: str) -> None:
    alt = one(text)
    assert (alt.kind, alt.index, alt.chip, alt.plugin) == (kind, None, None, None)


def test_index() -> None:
    assert one("gpu:1") == DeviceTarget("gpu", index=1)
    assert one("Ascend:0") == DeviceTarget("ascend", index=0)


@pytest.mark.parametrize(
    "text, chip, index",
    [
        ("ascend310", "ascend310", None),
        ("ascend910:0", "ascend910", 0),
        ("Ascend310P:3", "ascend310p", 3),
        ("ascend910b", "ascend910b", None),
    ],
)
def test_ascend_chip(text: str, chip: str, index: int | None) -> None:
    assert one(text) == DeviceTarget("ascend", index=index, chip=chip)


def test_plugin_pin() -> None:
    assert one("cpu@onnx") == DeviceTarget("cpu", plugin="onnx")
    assert one("GPU:1@TensorRT") == DeviceTarget("gpu", index=1, plugin="tensorrt")
    assert one("auto@onnx") == DeviceTarget("auto", plugin="onnx")


def test_fallback_list_keeps_order() -> None:
    target = parse_target("gpu:0@tensorrt, gpu, cpu")
    assert target.is_fallback_list
    assert [str(a) for a in target.alternatives] == ["gpu:0@tensorrt", "gpu", "cpu"]


def test_auto() -> None:
    alt = one("auto")
    assert alt.is_auto and alt.index is None


def test_plugin_declared_kind_is_accepted_only_when_declared() -> None:
    assert one("null", extra=("null",)).kind == "null"
    with pytest.raises(InvalidTargetError, match="unknown device kind 'null'"):
        parse_target("null")


def test_str_round_trips() -> None:
    for text in ["cpu", "gpu:1", "ascend310:0", "cpu@onnx", "gpu,cpu", "auto"]:
        assert str(parse_target(text)) == text


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty device target"),
        ("gpu,,cpu", "empty device target"),
        ("cuda", "did you mean 'gpu'"),
        ("gpux", "did you mean 'gpu'"),
        ("tpu:0", "unknown device kind 'tpu'"),
        ("gpu:x", "device index 'x' must be a number"),
        ("gpu:-1", "must be a number >= 0"),
        ("gpu:", "must be a number"),
        ("auto:1", "'auto' takes no device index"),
        ("gpu310", "only Ascend targets take a chip"),
        ("cpu@", "plugin name '' is not valid"),
        ("cpu@on nx!", "plugin name"),
        ("@onnx", "give a device kind before '@'"),
        ("!!!", "does not parse"),
    ],
)
def test_garbage_gets_a_helpful_error(text: str, fragment: str) -> None:
    with pytest.raises(InvalidTargetError, match=fragment.replace("(", r"\(")):
        parse_target(text)


def test_non_string_target() -> None:
    with pytest.raises(InvalidTargetError, match="must be a string"):
        parse_target(0)  # type: ignore[arg-type]
