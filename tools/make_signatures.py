"""Write core/mindinfer/_signature_table.py: MindSpore's primitive signatures, read from MindSpore itself.

Run with the MindSpore virtual environment (MindSpore is a tool for making data here, never a
dependency of mindinfer)::

    /work/msvenv/bin/python tools/make_signatures.py            # regenerate for the names already there
    /work/msvenv/bin/python tools/make_signatures.py Erfinv Roll # ...and add these primitives

For each primitive the table lists its arguments in MindSpore's order, each with

* ``index`` -- its position among the node's inputs when the export writes it as an input (2.x
  primitive functions put every argument there; the 1.x primitives only their tensors), else None;
* ``attrs`` -- the attribute names a 1.x export writes it under (read from an instance's ``attrs``);
* ``default`` -- the Python default (``...`` when the argument is required);
* ``decode`` -- how an exported enum code decodes (``pad_mode``, ``format``, ``dtype``, ...).

Where MindSpore 2.10 itself defines the primitive the entry is derived from its generated op
definitions (``ops/auto_generate/gen_ops_prim.py``: the argument list of ``__call__``'s call into
the kernel, ``__init__``'s handlers) or its hand-written class (``__init__``'s signature and an
instance's ``attrs``/``input_names``). The few primitives an export can hold that 2.10 no longer
defines as classes (the scalar graph primitives, older activations) are listed in ``MANUAL`` below
with where their signature comes from.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import re
import sys
import textwrap
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "core" / "mindinfer" / "_signature_table.py"

# str_to_enum argument names -> the decoding core applies (mindapi/base/types.h, format.h, op_enum.h).
ENUM_ARGS = {
    "pad_mode": "pad_mode",
    "padding": "pad_mode",
    "data_format": "format",
    "format": "format",
    "approximate": "approximate",
    "reduction": "reduction",
    "rounding_mode": "rounding_mode",
    # GridSampler2D's and the element scatters' (Scatter, ScatterValue, TensorScatterElements) enums.
    "interpolation_mode": "grid_mode",
    "padding_mode": "grid_padding",
    "reduce": "scatter_reduce",
}

# 2-D primitives whose window arguments MindSpore writes as an int, (h, w) or (1, 1, h, w): core
# decodes them to (h, w) so that no backend re-learns the 4-tuple form.
_PAIRS = {
    "Conv2D": ("kernel_size", "stride", "dilation"),
    "Conv2DTranspose": ("kernel_size", "stride", "dilation"),
    "Conv2DBackpropInput": ("kernel_size", "stride", "dilation"),
    "MaxPool": ("kernel_size", "strides"),
    "AvgPool": ("kernel_size", "strides"),
    "Conv2DExt": ("stride", "dilation"),
    "Conv2DPadding": ("stride", "dilation"),
}
DECODE_OVERRIDES = {(op, a): "pair" for op, names in _PAIRS.items() for a in names}
# Conv2D's ``pad``: an int or (top, bottom, left, right).
DECODE_OVERRIDES.update({(op, "pad"): "pad4" for op in ("Conv2D", "Conv2DTranspose", "Conv2DBackpropInput")})

# Arguments that name a dtype in 1.x primitives (2.x ones say so through dtype_to_type_id).
DTYPE_ARGS = ("dtype", "dst_type", "argmax_type", "output_type")

# 1.x primitives write some arguments under a second attribute name as well.
ATTR_ALIASES = {"data_format": ("format",), "format": ("data_format",), "group": ("groups",), "groups": ("group",)}

# Values for required __init__ arguments, only so that an instance can be made to read its attrs.
SAMPLE_INIT = {
    "Conv2D": {"out_channel": 1, "kernel_size": 1},
    "Conv2DBackpropInput": {"out_channel": 1, "kernel_size": 1},
    "Conv2DTranspose": {"out_channel": 1, "kernel_size": 1},
    "AdaptiveAvgPool2D": {"output_size": 1},
    "L2Normalize": {},
    "LSTM": {
        "input_size": 1,
        "hidden_size": 1,
        "num_layers": 1,
        "has_bias": True,
        "bidirectional": False,
        "dropout": 0.0,
    },
    "Pad": {"paddings": ((0, 0),)},
    "MaxPool3DWithArgmax": {"ksize": 1, "strides": 1, "pads": 0},
    "AvgPool3D": {},
}

# 1.x classes that declare no input names: from their docstrings' "Inputs:" sections.
INPUT_NAMES = {"L2Normalize": ("input_x",), "LSTM": ("input", "h", "c", "w")}

# Primitives an export can hold that MindSpore 2.10 defines no Python class for (graph-level scalar
# and sequence primitives, older primitive names), and two whose classes do not say their argument
# order. (name, index, attrs, default, decode) per argument. These are not read from MindSpore: they
# are what the cpu and onnx plugins read before the table existed, and the op cases (real MindSpore
# exports, conformance/mindinfer_conformance/cases/op) exercise them; check a new entry the same way.
_X = ("x", 0, (), ..., "")
_Y = ("y", 1, (), ..., "")
MANUAL: dict[str, tuple[tuple[Any, ...], ...]] = {
    **{
        n: (_X, _Y)
        for n in [
            "ScalarAdd",
            "ScalarSub",
            "ScalarMul",
            "ScalarDiv",
            "ScalarFloorDiv",
            "ScalarMod",
            "ScalarPow",
            "ScalarEq",
            "ScalarGe",
            "ScalarGt",
            "ScalarLe",
            "ScalarLt",
            "ScalarMax",
            "ScalarMin",
            "bit_and",
            "bit_or",
        ]
    },
    **{
        n: (_X,)
        for n in [
            "ScalarBool",
            "ScalarLog",
            "ScalarUadd",
            "ScalarUsub",
            "bool_not",
            "list_len",
            "tuple_len",
            "sequence_len",
        ]
    },
    "SequenceLen": (("sequence", 0, (), ..., ""),),
    "ListToTensor": (("input_list", 0, (), ..., ""), ("dtype", 1, ("dtype",), ..., "dtype")),
    "TensorToList": (("input_x", 0, (), ..., ""),),
    "TensorToTuple": (("input_x", 0, (), ..., ""),),
    # A hand-written class whose __call__ passes *args (ops_def.py); order from batch_norm_op.yaml.
    "BatchNorm": (
        ("input_x", 0, (), ..., ""),
        ("scale", 1, (), ..., ""),
        ("bias", 2, (), ..., ""),
        ("mean", 3, (), ..., ""),
        ("variance", 4, (), ..., ""),
        ("is_training", 5, ("is_training",), False, ""),
        ("epsilon", 6, ("epsilon",), 1e-5, ""),
        ("momentum", 7, ("momentum",), 0.1, ""),
        ("data_format", 8, ("data_format", "format"), "NCHW", "format"),
    ),
    # 1.x classes without input names (math_ops.py, other_ops.py): one tensor input.
    "Inv": (_X,),
    "StopGradient": (("value", 0, (), ..., ""),),
    # Primitive('TensorMove') (ops/functional.py, Tensor.copy in graph/_parse/standard_method.py): one tensor.
    "TensorMove": (("x", 0, (), ..., ""),),
    "Acos": (("input", 0, (), ..., ""),),
    "Adds": (("input", 0, (), ..., ""), ("other", 1, (), ..., "")),
    "Subs": (("input", 0, (), ..., ""), ("other", 1, (), ..., "")),
    "GreaterScalar": (("input", 0, (), ..., ""), ("other", 1, (), ..., "")),
    "LessEqualScalar": (("input", 0, (), ..., ""), ("other", 1, (), ..., "")),
    "NotEqualScalar": (("input", 0, (), ..., ""), ("other", 1, (), ..., "")),
    "LeakyReLU": (("x", 0, (), ..., ""), ("alpha", 1, ("alpha", "negative_slope"), 0.2, "")),
    "HardShrink": (("input", 0, (), ..., ""), ("lambd", 1, ("lambd",), 0.5, "")),
    "ResizeBilinear": (
        ("x", 0, (), ..., ""),
        ("size", None, ("size",), ..., ""),
        ("align_corners", None, ("align_corners",), False, ""),
        ("half_pixel_centers", None, ("half_pixel_centers",), False, ""),
    ),
}


def _names_in(path: pathlib.Path) -> list[str]:
    if not path.exists():
        return []
    return re.findall(r'^    "([^"]+)": \(', path.read_text(), flags=re.MULTILINE)


def _call_order(cls: type) -> list[str] | None:
    """Argument names in the order ``__call__`` hands them to the kernel (the export's input order)."""
    try:
        src = textwrap.dedent(inspect.getsource(cls.__call__))
    except (OSError, TypeError):
        return None
    tree = ast.parse(src)
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        fn = call.func
        args: list[ast.expr] | None = None
        if isinstance(fn, ast.Name) and fn.id.startswith("pyboost_") and len(call.args) == 2:
            if isinstance(call.args[1], ast.List):
                args = call.args[1].elts
        elif isinstance(fn, ast.Attribute) and fn.attr == "__call__":
            args = call.args
        if args is not None:
            return [_arg_name(a) for a in args]
    return None


def _arg_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return node.attr
    if isinstance(node, ast.Name):
        return node.id.removeprefix("new_generated_")
    if isinstance(node, ast.IfExp):
        return _arg_name(node.body)
    if isinstance(node, ast.Call):
        for a in node.args:
            name = _arg_name(a)
            if name:
                return name
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ""
    return ""


def _enum_args(cls: type) -> dict[str, str]:
    """Arguments converted by ``str_to_enum`` or ``dtype_to_type_id``, with the decoding they need."""
    out: dict[str, str] = {}
    for meth in ("__init__", "__call__"):
        try:
            src = inspect.getsource(getattr(cls, meth))
        except (OSError, TypeError):
            continue
        for m in re.finditer(r'_set_prim_arg_with_handler\("(\w+)", .*?(str_to_enum|dtype_to_type_id)\)', src):
            out[m.group(1)] = "dtype" if m.group(2) == "dtype_to_type_id" else ENUM_ARGS.get(m.group(1), "enum")
        for m in re.finditer(r"str_to_enum\('\w+', '(\w+)'", src):
            out[m.group(1)] = ENUM_ARGS.get(m.group(1), "enum")
        for m in re.finditer(r"dtype_to_type_id\('\w+', '(\w+)'", src):
            out[m.group(1)] = "dtype"
    return out


def _params(fn: Any) -> list[inspect.Parameter]:
    fn = inspect.unwrap(fn)
    return [
        p for p in inspect.signature(fn).parameters.values() if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD
    ]


def _default(p: inspect.Parameter) -> Any:
    return ... if p.default is inspect.Parameter.empty else p.default


def generated(cls: type) -> tuple[tuple[Any, ...], ...]:
    """A 2.x primitive: every argument is a node input, in ``__call__``'s kernel order."""
    order = _call_order(cls)
    if order is None:
        raise RuntimeError(f"{cls.__name__}: no kernel call found in __call__")
    defaults = {p.name: _default(p) for p in _params(cls.__call__)}
    defaults.update({p.name: _default(p) for p in _params(cls.__init__)})
    enums = _enum_args(cls)
    rows = []
    for i, name in enumerate(order):
        if not name or name not in defaults:
            raise RuntimeError(f"{cls.__name__}: cannot name kernel argument {i} ({name!r})")
        decode = enums.get(name, "")
        rows.append((name, i, (name,) if i else (), _value(defaults[name]), decode))
    # __init__ arguments the kernel call does not take stay attributes (hand-written 2.x classes).
    for p in _params(cls.__init__):
        if p.name not in order:
            decode = enums.get(p.name, ENUM_ARGS.get(p.name, "") if isinstance(p.default, str) else "")
            rows.append((p.name, None, (p.name,), _value(_default(p)), decode))
    return tuple(rows)


def legacy(name: str, cls: type) -> tuple[tuple[Any, ...], ...]:
    """A 1.x primitive: tensors are inputs (``input_names``), the rest are attributes."""
    init = _params(cls.__init__)
    sample = {p.name: 0 if "axis" in p.name else 1 for p in init if p.default is inspect.Parameter.empty}
    sample.update(SAMPLE_INIT.get(name, {}))
    try:
        attrs = dict(cls(**sample).attrs)
    except Exception as exc:  # noqa: BLE001 -- said aloud; the attrs then default to the argument names
        print(f"{name}: no instance ({exc}); attribute names taken from __init__", file=sys.stderr)
        attrs = {}
    inputs = list(attrs.get("input_names") or [])
    inputs = inputs or list(INPUT_NAMES.get(name, ()))
    if not inputs and "__call__" in vars(cls):
        inputs = [p.name for p in _params(cls.__call__)]
    rows: list[tuple[Any, ...]] = [(n, i, (), ..., "dtype" if n in DTYPE_ARGS else "") for i, n in enumerate(inputs)]
    for p in init:
        if p.name in inputs:
            continue
        names = (p.name, *ATTR_ALIASES.get(p.name, ()))
        decode = ENUM_ARGS.get(p.name, "") if isinstance(p.default, str) else ""
        if p.name in DTYPE_ARGS:
            decode = "dtype"
        rows.append((p.name, None, names, _value(_default(p)), decode))
    return tuple(rows)


def _value(v: Any) -> Any:
    if v is ...:
        return v
    if isinstance(v, (bool, int, float, str, type(None))):
        return v
    if isinstance(v, (tuple, list)) and all(isinstance(x, (int, float, bool)) for x in v):
        return tuple(v)
    return repr(v)  # a MindSpore object (a dtype): kept as its text, decoded by the "dtype" rule


def signature(name: str) -> tuple[tuple[Any, ...], ...]:
    if name in MANUAL:
        return MANUAL[name]
    import mindspore.ops.auto_generate.gen_ops_prim as gen
    import mindspore.ops.operations as ops
    import mindspore.ops.operations._inner_ops as inner

    for module in (gen, ops, inner):
        cls = getattr(module, name, None)
        if inspect.isclass(cls):
            return generated(cls) if _call_order(cls) is not None else legacy(name, cls)
    raise SystemExit(f"MindSpore has no primitive class {name!r}; add it to MANUAL with its source")


def _override(op: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    decode = DECODE_OVERRIDES.get((op, row[0]))
    return row if decode is None else (*row[:4], decode)


def render(table: dict[str, tuple[tuple[Any, ...], ...]], version: str) -> str:
    lines = [
        f'"""MindSpore {version} primitive signatures, generated by tools/make_signatures.py: edit that tool, not this file.',
        "",
        "Each entry: (name, index, attrs, default, decode) per argument; see mindinfer.primitives.",
        '"""',
        "",
        "from typing import Any",
        "",
        "# fmt: off",
        "TABLE: dict[str, tuple[tuple[Any, ...], ...]] = {",
    ]
    for name in sorted(table):
        rows = ", ".join(repr(r).replace("Ellipsis", "...") for r in table[name])
        lines.append(f'    "{name}": ({rows},),' if rows else f'    "{name}": (),')
    lines += ["}", "# fmt: on", ""]
    return "\n".join(lines)


def main() -> None:
    import mindspore

    names = sorted(set(_names_in(OUT)) | set(sys.argv[1:]))
    table = {n: tuple(_override(n, r) for r in signature(n)) for n in names}
    OUT.write_text(render(table, mindspore.__version__))
    print(f"wrote {len(table)} signatures to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
