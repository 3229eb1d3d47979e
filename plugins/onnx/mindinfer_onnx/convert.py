"""MindIR (as mindinfer's normalized IR) to ONNX.

``convert(model)`` lowers every node of the main graph through the registered lowerings (one module
per primitive family, :mod:`mindinfer_onnx.lowering`) and control flow through
:mod:`mindinfer_onnx._control`. Weights become initializers without per-element Python work
(``numpy_helper.from_array``). Dynamic input dimensions become named symbolic dimensions.

``convert_file(src, dst)`` loads a ``.mindir``, converts, writes (weights as ONNX external data once
they pass protobuf's 2 GB limit) and checks the result with ``onnx.checker`` (full check).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from mindinfer import ir
from mindinfer.backend import Capabilities
from mindinfer.errors import MindInferError, UnsupportedOpError

from . import _onnx_pb as helper
from ._control import lower_nodes
from ._graph import PLUGIN, Conversion, GraphBuilder, Value, make_value_info
from ._opsets import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET
from .lowering import LOWERINGS

if TYPE_CHECKING:  # converting never imports onnx (see _onnx_pb); writing and checking files does
    import onnx

__all__ = [
    "DEFAULT_OPSET",
    "EXTERNAL_DATA_THRESHOLD",
    "MAX_OPSET",
    "MIN_OPSET",
    "SUPPORTED",
    "convert",
    "convert_file",
    "save",
]

#: Above this many bytes of weights, files are written with ONNX external data (protobuf's limit is 2 GiB
#: for the whole message; leave room for the graph itself).
EXTERNAL_DATA_THRESHOLD = 2**31 - 2**26
#: Every primitive the converter lowers (control flow included).
SUPPORTED = LOWERINGS.names() | ir.CONTROL_FLOW_OPS
#: What the converter lowers, as core's capability data (control flow included; dtypes are the
#: backend's concern).
LOWERED = Capabilities(primitives=LOWERINGS.names(), control_flow=True, dynamic_shapes=True)


def convert(model: ir.Model, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Lower ``model`` to an ONNX model of default-domain ``opset``.

    Raises :class:`~mindinfer.errors.UnsupportedOpError` for a primitive (or a form of one) that
    has no exact ONNX lowering; never returns a model computing something else.
    """
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise MindInferError(f"onnx opset {opset} is not supported; choose {MIN_OPSET}..{MAX_OPSET}")
    _check_primitives(model)
    state = Conversion(model, opset)
    main = model.main
    for spec in main.inputs:
        state.used_names.add(spec.name)
    for graph in model.graphs:
        for param in graph.params.values():
            if param.name not in state.params:
                state.params[param.name] = state.initializer(param.data, param.name)
    b = GraphBuilder(state, scope=main.name)
    inputs = []
    dynamic_first = [s for s in main.inputs if s.shape and s.shape[0] < 0]
    for spec in main.inputs:
        b.bind(spec.name, spec.name)
        state.info[spec.name] = Value(np.dtype(spec.dtype), spec.shape)
        inputs.append(make_value_info(spec.name, spec.dtype, _symbolic(spec, len(dynamic_first) == 1)))
    lower_nodes(b, main)
    b.current = None
    outputs = _outputs(b, model)
    nodes, initializers = _prune(b.nodes, [o.name for o in outputs], state.initializers)
    graph = helper.make_graph(nodes, _graph_name(main.name), inputs, outputs, initializer=initializers)
    # The model declares the oldest IR version that carries this opset, so older ONNX consumers accept it.
    proto = helper.make_model(graph, opset, producer_name="mindinfer-onnx", producer_version=_version())
    proto.doc_string = f"converted from {model.source or 'a MindIR model'} ({model.producer} {model.producer_version})"
    return proto


def _check_primitives(model: ir.Model) -> None:
    missing = [g for g in LOWERED.missing(model) if g.kind == "primitive"]
    if missing:
        first, others = missing[0], sorted(g.name for g in missing[1:])
        also = f"; also unsupported: {', '.join(others)}" if others else ""
        raise UnsupportedOpError(first.name, first.where[0], PLUGIN, f"the ONNX converter has no lowering for it{also}")


def _prune(
    nodes: list[onnx.NodeProto], outputs: list[str], initializers: list[onnx.TensorProto]
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Drop nodes whose results nothing reads (lowerings may compute a value they end up not using)
    and initializers no kept node reads."""
    live = set(outputs)
    kept = []
    for node in reversed(nodes):
        if any(o in live for o in node.output):
            kept.append(node)
            live.update(_reads(node))
    kept.reverse()
    return kept, [t for t in initializers if t.name in live]


def _reads(node: onnx.NodeProto) -> set[str]:
    """Every value a node reads, including what its subgraphs read from enclosing scopes."""
    names = set(node.input)
    for attr in node.attribute:
        for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            for sub in g.node:
                names |= _reads(sub)
    return names


def _symbolic(spec: ir.TensorSpec, batch_named: bool) -> list[int | str] | None:
    """Shape with each -1 as a named dimension: 'batch' for a lone dynamic leading dim."""
    if spec.shape is None:
        return None
    return [
        d if d >= 0 else ("batch" if i == 0 and batch_named else f"{spec.name}_dim{i}")
        for i, d in enumerate(spec.shape)
    ]


def _outputs(b: GraphBuilder, model: ir.Model) -> list[onnx.ValueInfoProto]:
    """Graph outputs named after the IR's output specs, each produced by a node of the main graph."""
    specs = model.main.output_specs
    infos = []
    for i, item in enumerate(model.main.outputs):
        spec = specs[i] if i < len(specs) else None
        if isinstance(item, ir.Ref):
            source = b.lookup(item.name)
        elif isinstance(item, ir.Const) and item.value is not None:
            source = b.const(np.asarray(item.value, dtype=spec.dtype if spec else None))
        else:
            raise UnsupportedOpError("<output>", f"output {i}", PLUGIN, "a tuple or None graph output")
        name = b.conversion.fresh(spec.name if spec and spec.name else f"output_{i}")
        b.identity_into(source, name)
        info = b.info(source)
        # What the graph computes wins over the exported spec: a lowering that knows MindSpore's real
        # result dtype records it (the spec of `7 % int32_x` says int64, MindSpore computes int32).
        dtype = info.dtype if info else (spec.dtype if spec else None)
        if dtype is None:
            raise UnsupportedOpError("<output>", name, PLUGIN, "the output's dtype is unknown")
        shape = None if spec is None or spec.shape is None else [d if d >= 0 else None for d in spec.shape]
        infos.append(make_value_info(name, dtype, shape))
    return infos


def _graph_name(name: str) -> str:
    return name.encode("ascii", "replace").decode() or "main"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mindinfer-onnx")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0"


def weight_bytes(proto: onnx.ModelProto) -> int:
    return sum(len(t.raw_data) for t in proto.graph.initializer)


def save(proto: onnx.ModelProto, dst: str | os.PathLike[str], external_data: bool | None = None) -> Path:
    """Write ``proto``; weights go to ``<dst>.data`` when ``external_data`` (default: when over 2 GB)."""
    import onnx

    dst = Path(dst)
    if external_data is None:
        external_data = weight_bytes(proto) > EXTERNAL_DATA_THRESHOLD
    if external_data:
        data = dst.with_name(dst.name + ".data")
        if data.exists():
            data.unlink()  # external data is appended to; a stale file would be kept in front
        onnx.save_model(
            proto,
            str(dst),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=data.name,
            size_threshold=1024,
        )
    else:
        onnx.save_model(proto, str(dst))
    return dst


def convert_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    opset: int = DEFAULT_OPSET,
    external_data: bool | None = None,
    check: bool = True,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    strict: bool = True,
) -> Path:
    """Convert the MindIR file ``src`` to the ONNX file ``dst`` and check it; returns ``dst``.

    ``checkpoint``/``strict``: a MindSpore checkpoint whose weights the ONNX file carries (see
    :func:`mindinfer.load`). Encrypted models are not converted: that would write their weights in plain.
    """
    import mindinfer
    import onnx

    proto = convert(mindinfer.load(src, checkpoint=checkpoint, strict=strict), opset)
    path = save(proto, dst, external_data)
    if check:
        try:
            # A path (not the proto) so that models with external data are checked too.
            onnx.checker.check_model(str(path), full_check=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
            raise MindInferError(
                f"onnx converter produced an invalid model for {src}: {exc}; this is a converter bug, please report it"
            ) from exc
    return path
