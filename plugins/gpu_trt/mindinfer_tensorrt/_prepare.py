"""The converted ONNX graph made ready for TensorRT's ONNX parser.

Three steps, all before TensorRT is touched (so all tested without it):

1. **Opset**: the parser of TensorRT 10.0 reads opsets 9..20, TensorRT 11 9..25.
2. **What the parser cannot take** is refused with :class:`UnsupportedOpError` naming the MindSpore
   primitive and node it came from: the operators marked unsupported in the onnx-tensorrt operator
   matrix (``docs/operators.md``), the restrictions of that matrix that a converted MindSpore graph can
   hit, and tensor types TensorRT does not compute (DOUBLE is silently narrowed to FLOAT by TensorRT,
   which would change results; INT8 only exists as a quantized type; UINT8 only at network inputs and
   outputs; no 16-bit or unsigned wider integers).
3. **Reduced precision** (``fp16``/``bf16``): TensorRT 11 dropped the FP16/BF16 builder flags and
   networks are strongly typed, so precision is set in the graph itself, on 10.x as on 11.x: every
   float32 weight, constant and intermediate becomes the low type, while the graph's inputs and outputs
   keep their float32 dtype through a Cast at each boundary. Operators whose ONNX schema has no low
   variant at this opset compute in float32 between casts; inputs the schema requires in float32
   (``Resize`` scales) keep float32 weights, unrounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import onnx
from mindinfer import ir
from mindinfer.errors import MindInferError, UnsupportedOpError
from onnx import TensorProto, helper, numpy_helper

__all__ = ["OPSETS", "UNSUPPORTED_OPS", "check_for_tensorrt", "origin", "prepare", "reduce_precision"]

PLUGIN = "tensorrt"
#: Opsets TensorRT's ONNX parser reads, by TensorRT major (NVIDIA's ONNX opset guide; onnx-tensorrt 10.x).
OPSETS = {10: (9, 20), 11: (9, 25)}
#: Marked "N" in onnx-tensorrt's docs/operators.md (10.x matrix).
UNSUPPORTED_OPS = frozenset(
    [
        "AffineGrid",
        "Bernoulli",
        "BitShift",
        "BitwiseAnd",
        "BitwiseNot",
        "BitwiseOr",
        "BitwiseXor",
        "BlackmanWindow",
        "Col2Im",
        "CenterCropPad",
        "Compress",
        "ConcatFromSequence",
        "ConvInteger",
        "DFT",
        "Det",
        "DynamicQuantizeLinear",
        "HammingWindow",
        "HannWindow",
        "ImageDecoder",
        "MatMulInteger",
        "MaxRoiPool",
        "MaxUnpool",
        "MelWeightMatrix",
        "Multinomial",
        "NegativeLogLikelihoodLoss",
        "Optional",
        "OptionalGetElement",
        "OptionalHasElement",
        "QLinearConv",
        "QLinearMatMul",
        "RegexFullMatch",
        "STFT",
        "SequenceAt",
        "SequenceConstruct",
        "SequenceEmpty",
        "SequenceErase",
        "SequenceInsert",
        "SequenceLength",
        "SequenceMap",
        "SoftmaxCrossEntropyLoss",
        "SplitToSequence",
        "StringConcat",
        "StringNormalizer",
        "StringSplit",
        "TfIdfVectorizer",
        "Unique",
    ]
)
_COMPUTED = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.INT32, TensorProto.INT64}
_COMPUTED |= {TensorProto.BOOL}
_TYPE_WHY: dict[int, str] = {
    TensorProto.DOUBLE: "TensorRT narrows DOUBLE to FLOAT, which changes results; export the model in float32",
    TensorProto.INT8: "TensorRT has INT8 only as a quantized type (Q/DQ), not as plain integers",
    TensorProto.UINT8: "TensorRT allows UINT8 only as a network input or output",
}
_LOW = {"fp16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16}
_TYPE_STR: dict[int, str] = {TensorProto.FLOAT: "tensor(float)", TensorProto.FLOAT16: "tensor(float16)"}
_TYPE_STR[TensorProto.BFLOAT16] = "tensor(bfloat16)"


def prepare(
    proto: onnx.ModelProto, model: ir.Model | None, precision: str = "fp32", trt_major: int | None = None
) -> onnx.ModelProto:
    """A copy of ``proto`` checked for TensorRT and cast to ``precision``."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    check_for_tensorrt(out, model, trt_major)
    if precision != "fp32":
        reduce_precision(out, precision)
    return out


# -- checks ---------------------------------------------------------------------------------------
def check_for_tensorrt(proto: onnx.ModelProto, model: ir.Model | None, trt_major: int | None = None) -> None:
    """Raise :class:`UnsupportedOpError` (or :class:`MindInferError` for the opset) for what the parser refuses."""
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    lo, hi = OPSETS.get(trt_major or 10, OPSETS[10])
    if not lo <= opset <= hi:
        raise MindInferError(
            f"plugin '{PLUGIN}': ONNX opset {opset} is outside what TensorRT {trt_major or '10'}.x parses ({lo}..{hi})"
        )
    types = value_types(proto)
    graph_io = {v.name for v in (*proto.graph.input, *proto.graph.output)}
    for node in _walk(proto.graph):
        why = _restriction(node, proto)
        if why:
            raise _unsupported(node, model, why)
        for name in node.output:
            t = types.get(name)
            if t is None or t in _COMPUTED or (t == TensorProto.UINT8 and name in graph_io):
                continue
            reason = _TYPE_WHY.get(t, "TensorRT does not compute this type")
            raise _unsupported(node, model, f"it makes a {TensorProto.DataType.Name(t)} tensor ({name}): {reason}")
    for v in (*proto.graph.input, *proto.graph.output):
        t = v.type.tensor_type.elem_type
        if t not in _COMPUTED and t != TensorProto.UINT8:
            raise UnsupportedOpError(
                f"<{TensorProto.DataType.Name(t)} tensor>",
                v.name,
                PLUGIN,
                _TYPE_WHY.get(t, "TensorRT takes no tensors of this type at a network's inputs and outputs"),
            )


def _restriction(node: onnx.NodeProto, proto: onnx.ModelProto) -> str:
    """Why the parser refuses this node (operator matrix entry or restriction column), or ""."""
    op = node.op_type
    if node.domain not in ("", "ai.onnx"):
        return f"it lowers to {node.domain}::{op}, which TensorRT's ONNX parser does not know"
    if op in UNSUPPORTED_OPS:
        return f"it lowers to the ONNX operator {op}, which TensorRT's ONNX parser does not support (operator matrix)"
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if op == "Loop" and len(node.output) > len(node.input) - 2:
        trip = node.input[0] if node.input else ""
        if not trip or trip not in {i.name for i in proto.graph.initializer}:
            return "its ONNX Loop has scan outputs of dynamic length, which TensorRT does not support"
    if op == "MaxPool" and len(node.output) > 1 and node.output[1]:
        return "its ONNX MaxPool needs the Indices output, which TensorRT does not support"
    if op == "TopK" and attrs.get("sorted", 1) != 1:
        return "its ONNX TopK is unsorted (sorted=0); TensorRT supports sorted=1 only"
    if op == "Resize" and attrs.get("antialias", 0):
        return "its ONNX Resize uses antialiasing, which TensorRT does not support"
    if op == "Resize" and attrs.get("mode", b"nearest") not in (b"nearest", b"linear"):
        return f"its ONNX Resize uses mode {attrs['mode'].decode()}; TensorRT supports nearest and linear"
    if op == "LayerNormalization" and any(node.output[1:]):
        return "its ONNX LayerNormalization needs the Mean/InvStdDev outputs; TensorRT supports only Y"
    if op == "LSTM" and (attrs.get("input_forget", 0) or attrs.get("layout", 0)):
        return "its ONNX LSTM sets input_forget or layout, which TensorRT requires to be 0"
    return ""


def origin(onnx_node_name: str, model: ir.Model | None) -> tuple[str, str]:
    """``(primitive, IR node)`` an ONNX node was lowered from (the converter names nodes ``<IR node>/<op>_node``)."""
    nodes = {n.name: n.op for g in model.graphs for n in g.nodes} if model is not None else {}
    name = onnx_node_name
    while "/" in name:
        name = name.rsplit("/", 1)[0]
        if name in nodes:
            return nodes[name], name
    return "", onnx_node_name


def _unsupported(node: onnx.NodeProto, model: ir.Model | None, why: str) -> UnsupportedOpError:
    primitive, ir_node = origin(node.name, model)
    return UnsupportedOpError(primitive or f"<onnx {node.op_type}>", ir_node, PLUGIN, why)


def _walk(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    for node in graph.node:
        yield node
        for sub in _subgraphs(node):
            yield from _walk(sub)


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    return [g for a in node.attribute for g in ([a.g] if a.HasField("g") else []) + list(a.graphs)]


def _graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for sub in _subgraphs(node):
            yield from _graphs(sub)


def value_types(proto: onnx.ModelProto) -> dict[str, int]:
    """Element type of every value whose type ONNX shape inference knows, in every (sub)graph."""
    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
    except Exception:  # noqa: BLE001 -- inference is a help here; the parser has the last word
        inferred = proto
    types: dict[str, int] = {}
    for g in _graphs(inferred.graph):
        for v in (*g.input, *g.output, *g.value_info):
            if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type:
                types[v.name] = v.type.tensor_type.elem_type
        for t in g.initializer:
            types[t.name] = t.data_type
    return types


# -- reduced precision ----------------------------------------------------------------------------
@dataclass
class _Caster:
    proto: onnx.ModelProto
    low: int
    types: dict[str, int]
    opset: int
    used: set[str] = field(default_factory=set)

    def fresh(self, hint: str) -> str:
        name, i = hint, 1
        while name in self.used:
            name, i = f"{hint}_{i}", i + 1
        self.used.add(name)
        return name

    def is_float(self, name: str) -> bool:
        return self.types.get(name) == TensorProto.FLOAT


def reduce_precision(proto: onnx.ModelProto, precision: str) -> None:
    """Cast ``proto`` in place to ``fp16``/``bf16``, its inputs and outputs keeping their dtypes."""
    if precision not in _LOW:
        raise MindInferError(f"plugin '{PLUGIN}': precision {precision!r} is not one of fp32, fp16, bf16")
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 17)
    c = _Caster(proto, _LOW[precision], value_types(proto), opset)
    c.used = {n for g in _graphs(proto.graph) for node in g.node for n in (*node.input, *node.output)}
    c.used |= {v.name for g in _graphs(proto.graph) for v in (*g.input, *g.output, *g.initializer)}
    for i, node in enumerate(_walk(proto.graph)):
        if not node.name:  # float-only uses are keyed by node name
            node.name = c.fresh(f"{node.op_type}_{i}")
    float_uses = _float_only_uses(c)
    _convert_initializers(c, float_uses)
    for g in _graphs(proto.graph):
        _convert_nodes(c, g, float_uses)
        for v in (*g.input, *g.output) if g is not proto.graph else ():
            if v.type.tensor_type.elem_type == TensorProto.FLOAT:
                v.type.tensor_type.elem_type = c.low
        del g.value_info[:]  # types changed; TensorRT infers them again
    _boundaries(c)


def _float_only_uses(c: _Caster) -> set[tuple[str, int]]:
    """(node name, input index) of float inputs that the operator's schema has no low variant for."""
    found: set[tuple[str, int]] = set()
    for node in _walk(c.proto.graph):
        allowed = _allowed_types(node, c.opset)
        for i, name in enumerate(node.input):
            if name and c.is_float(name) and allowed is not None:
                types = allowed(i)
                if types is not None and _TYPE_STR[c.low] not in types:
                    found.add((node.name, i))
    return found


def _allowed_types(node: onnx.NodeProto, opset: int):  # type: ignore[no-untyped-def]
    """A function: input index -> allowed type strings (None when unknown); None for unknown ops."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain or "")
    except Exception:  # noqa: BLE001 -- no schema: leave the node as it is
        return None
    params = {t.type_param_str: set(t.allowed_type_strs) for t in schema.type_constraints}

    def at(i: int) -> set[str] | None:
        formal = schema.inputs[min(i, len(schema.inputs) - 1)] if schema.inputs else None
        if formal is None:
            return None
        return params.get(formal.type_str, {formal.type_str})

    return at


def _output_params_float_only(node: onnx.NodeProto, c: _Caster) -> list[int]:
    """Outputs whose type parameter has no low variant (the node then computes in float32)."""
    try:
        schema = onnx.defs.get_schema(node.op_type, c.opset, node.domain or "")
    except Exception:  # noqa: BLE001
        return []
    params = {t.type_param_str: set(t.allowed_type_strs) for t in schema.type_constraints}
    out = []
    for i, name in enumerate(node.output):
        if not name or not c.is_float(name) or not schema.outputs:
            continue
        formal = schema.outputs[min(i, len(schema.outputs) - 1)]
        allowed = params.get(formal.type_str, {formal.type_str})
        if _TYPE_STR[c.low] not in allowed:
            out.append(i)
    return out


def _convert_initializers(c: _Caster, float_uses: set[tuple[str, int]]) -> None:
    """Float32 weights become low, except where only float32 is accepted; shared ones are duplicated."""
    inits = {t.name: t for t in c.proto.graph.initializer}
    uses: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in _walk(c.proto.graph):
        for i, name in enumerate(node.input):
            if name in inits:
                uses.setdefault(name, []).append((node, i))
    outputs = {v.name for v in c.proto.graph.output}
    for name, tensor in inits.items():
        if tensor.data_type != TensorProto.FLOAT:
            continue
        low_uses = [(n, i) for n, i in uses.get(name, []) if (n.name, i) not in float_uses]
        if not low_uses:
            continue
        low = _low_tensor(numpy_helper.to_array(tensor), c.low, name)
        if len(low_uses) == len(uses.get(name, [])) and name not in outputs:
            tensor.CopyFrom(low)
            continue
        low.name = c.fresh(f"{name}/{_suffix(c.low)}")
        c.proto.graph.initializer.append(low)
        for n, i in low_uses:
            n.input[i] = low.name


def _convert_nodes(c: _Caster, graph: onnx.GraphProto, float_uses: set[tuple[str, int]]) -> None:
    fp32_inits = {t.name for t in c.proto.graph.initializer if t.data_type == TensorProto.FLOAT}
    new_nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        _convert_attributes(node, c.low)
        before: list[onnx.NodeProto] = []
        after: list[onnx.NodeProto] = []
        for i, name in enumerate(node.input):
            if (node.name, i) in float_uses and name not in fp32_inits:
                cast = c.fresh(f"{name}/f32")
                before.append(helper.make_node("Cast", [name], [cast], name=c.fresh(f"{node.name}/to_f32"), to=1))
                node.input[i] = cast
        for i in _output_params_float_only(node, c):
            name = node.output[i]
            wide = c.fresh(f"{name}/f32")
            node.output[i] = wide
            after.append(helper.make_node("Cast", [wide], [name], name=c.fresh(f"{node.name}/to_low"), to=c.low))
        new_nodes.extend(before + [node] + after)
    del graph.node[:]
    graph.node.extend(new_nodes)


def _convert_attributes(node: onnx.NodeProto, low: int) -> None:
    for a in node.attribute:
        names_a_type = (node.op_type == "Cast" and a.name == "to") or (
            a.name == "dtype" and a.type == onnx.AttributeProto.INT
        )
        if names_a_type and a.i == TensorProto.FLOAT:
            a.i = low
        elif a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
            a.t.CopyFrom(_low_tensor(numpy_helper.to_array(a.t), low, a.t.name))
    if node.op_type == "Constant":
        for a in list(node.attribute):
            if a.name in ("value_float", "value_floats"):
                value = np.asarray(a.f if a.name == "value_float" else list(a.floats), np.float32)
                node.attribute.remove(a)
                node.attribute.append(helper.make_attribute("value", _low_tensor(value, low, "")))


def _boundaries(c: _Caster) -> None:
    """Graph inputs and outputs keep float32: a Cast to the low type after each input, back before each output."""
    g = c.proto.graph
    inits = {t.name for t in g.initializer}
    head: list[onnx.NodeProto] = []
    for v in g.input:
        if v.type.tensor_type.elem_type != TensorProto.FLOAT or v.name in inits:
            continue
        low = c.fresh(f"{v.name}/{_suffix(c.low)}")
        for node in _walk(g):
            for i, name in enumerate(node.input):
                if name == v.name:
                    node.input[i] = low
        head.append(helper.make_node("Cast", [v.name], [low], name=c.fresh(f"{v.name}/to_low"), to=c.low))
    tail: list[onnx.NodeProto] = []
    inputs = {v.name for v in g.input}
    for v in g.output:
        if v.type.tensor_type.elem_type != TensorProto.FLOAT or v.name in inputs or v.name in inits:
            continue
        low = c.fresh(f"{v.name}/{_suffix(c.low)}")
        for node in g.node:
            for i, name in enumerate(node.output):
                if name == v.name:
                    node.output[i] = low
            for i, name in enumerate(node.input):
                if name == v.name:
                    node.input[i] = low
        tail.append(helper.make_node("Cast", [low], [v.name], name=c.fresh(f"{v.name}/to_f32"), to=TensorProto.FLOAT))
    nodes = head + list(g.node) + tail
    del g.node[:]
    g.node.extend(nodes)


def _low_tensor(array: np.ndarray, low: int, name: str) -> onnx.TensorProto:
    array = np.asarray(array, np.float32)
    if low == TensorProto.FLOAT16:
        return numpy_helper.from_array(array.astype(np.float16), name)
    t = helper.make_tensor(name, TensorProto.BFLOAT16, array.shape, bf16_bits(array).tobytes(), raw=True)
    return t


def bf16_bits(array: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns, rounded to nearest even (NaN stays a quiet NaN)."""
    u = np.ascontiguousarray(array, np.float32).view(np.uint32).astype(np.uint64)
    bits = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    bits[np.isnan(array)] = 0x7FC0
    return bits


def _suffix(low: int) -> str:
    return "fp16" if low == TensorProto.FLOAT16 else "bf16"
