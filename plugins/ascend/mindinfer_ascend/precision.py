"""Which ATC ``--precision_mode`` a compile uses, per SoC, and why.

ATC's own default is ``force_fp16``: every operator that has an fp16 implementation runs in fp16, so
an fp32 MindSpore model silently becomes an fp16 one. mindinfer's default (``precision="auto"``)
keeps fp32 wherever the chip can compute it:

* **Ascend 910B** (Atlas A2; also 910_93, Atlas A3): the Cube unit computes fp32, so
  ``must_keep_origin_dtype`` keeps every operator in the model's own precision. MindSpore itself uses
  this mode by default on Atlas A2 (``mindspore.device_context.ascend.op_precision.precision_mode``).
* **Ascend 310, 310B, 310P and 910** (DaVinci cores before A2): the Cube unit (convolutions, matrix
  products) has fp16 and int8 only. ``must_keep_origin_dtype`` would refuse such models in older CANN
  ("cannot be used if an operator such as Conv2D has no fp32 implementation", CANN 6.0 ATC docs) or
  move every convolution to the AI CPU in newer CANN. ``allow_fp32_to_fp16`` is the mode that keeps
  fp32 where the chip supports it: vector operators stay fp32, only the Cube operators drop to fp16.

Any other mode can be chosen with the ``precision`` option (values as ATC spells them).
"""

from __future__ import annotations

__all__ = ["AUTO", "MODES", "choose", "explain"]

AUTO = "auto"
#: ``--precision_mode`` values documented for ATC (CANN 8.x, atlasatcparam_16_0068).
MODES = (
    "force_fp16",
    "allow_fp32_to_fp16",
    "must_keep_origin_dtype",
    "force_fp32",
    "cube_fp16in_fp32out",
    "allow_mix_precision",
    "allow_mix_precision_fp16",
    "allow_mix_precision_bf16",
)
#: Chips whose Cube unit computes fp32 (Atlas A2/A3 training and inference series).
_FP32_CUBE = ("ascend910b", "ascend910_93")


def choose(precision: str, chip: str) -> str:
    """The ``--precision_mode`` for option ``precision`` on ``chip`` (``ascend310p``...)."""
    if precision != AUTO:
        return precision
    return "must_keep_origin_dtype" if chip.startswith(_FP32_CUBE) else "allow_fp32_to_fp16"


def explain(chip: str) -> str:
    """Why ``auto`` picks what it picks on ``chip`` (for ``mindinfer devices``)."""
    mode = choose(AUTO, chip)
    if mode == "must_keep_origin_dtype":
        return (
            f"{mode}: the Cube unit of {chip} computes fp32, so the model keeps fp32 (CANN's ATC documents "
            "--allow_hf32 as on by default for convolutions on Atlas A2/A3: HF32, fp32's range with an 11-bit "
            "mantissa; not checked on hardware)"
        )
    return (
        f"{mode}: the Cube unit of {chip} has no fp32, so convolutions and matrix products run in fp16 "
        "while every other operator keeps fp32 (option precision='must_keep_origin_dtype' forces fp32 "
        "through the AI CPU)"
    )
