"""``mindinfer.load``: a MindIR file as MindSpore writes it -> the normalized :mod:`mindinfer.ir`.

The work is in :class:`_GraphBuilder`: it resolves every node input to a graph input, parameter,
constant, function graph or earlier node, and on the way removes what only matters to MindSpore's
own runtime -- ``Load`` (a parameter read), ``Depend`` (ordering), ``UpdateState`` and monads
(side-effect tokens), ``MakeTuple``/``TupleGetItem`` (tuple plumbing) -- so that backends see
plain dataflow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from ._checkpoint import apply_checkpoint
from ._decrypt import MODES, DecryptionKey, cipher_mode, decrypt, decrypted_external_data, make_key
from ._proto import mind_ir_pb2 as pb
from ._tensors import DTYPES, MONAD, ExternalData, Monad, decode_attribute, open_file, spec_from_proto, tensor_data
from .errors import MindIRError
from .ir import Const, Graph, GraphRef, Input, Model, Node, Parameter, Ref, TensorSpec, TupleOf, iter_refs

__all__ = ["BYTES_SOURCE", "load"]

#: What a model loaded from bytes reports as its source file.
BYTES_SOURCE = "<bytes>"

_A = pb.AttributeProto
# Node attributes that describe the node itself, not the primitive's parameters.
_NODE_META_ATTRS = {"shape", "value"}
# Primitive attributes that are MindSpore bookkeeping, useless to a backend.
_PRIM_META_ATTRS = {"input_names", "output_names", "side_effect_propagate", "side_effect_mem", "side_effect_io"}
_PASS_THROUGH = {"Load", "Depend"}  # value is the first input
_TUPLE_OPS = {"MakeTuple", "make_tuple", "MakeList", "make_list"}
_GETITEM_OPS = {"TupleGetItem", "tuple_getitem", "ListGetItem", "list_getitem"}
_DROPPED = {"UpdateState"}


def load(
    path: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    strict: bool = True,
    dec_key: bytes | None = None,
    dec_mode: str = "AES-GCM",
) -> Model:
    """Load a MindIR file (``.mindir``, or ``*_graph.mindir`` with its ``*_variables/`` folder).

    ``path`` may also be the file's contents (``bytes``), as read from a database or a network;
    such a model cannot use external weight files, which are found relative to a file's folder.
    ``checkpoint``: a MindSpore ``.ckpt`` or ``.safetensors`` file whose values replace the MindIR's
    weights, matched by name (see :mod:`mindinfer._checkpoint`); with ``strict=False`` parameters it
    lacks keep the MindIR's values. ``model.checkpoint`` reports what changed.
    ``dec_key``/``dec_mode``: the key (bytes) and mode (``"AES-GCM"``, ``"AES-CBC"``) of a file
    written by ``mindspore.export(..., enc_key=..., enc_mode=...)``; decryption happens in memory.

    Raises :class:`mindinfer.MindIRError` naming the file and the node or parameter for anything
    that is not a readable, consistent MindIR export.
    """
    key = make_key(dec_key, dec_mode) if dec_key is not None else None
    in_memory = isinstance(path, (bytes, bytearray, memoryview))
    if in_memory:
        p = Path(BYTES_SOURCE)
        proto = _decode(bytes(path), p, key)  # type: ignore[arg-type]
    else:
        p = Path(path)  # type: ignore[arg-type]
        proto = _parse(p, key)
    try:
        model = _ModelBuilder(proto, p, key, in_memory).build()
    except MindIRError:
        raise
    except (KeyError, IndexError, ValueError, TypeError, OverflowError, UnicodeError, StopIteration) as exc:
        # A file that parses as protobuf but whose contents contradict each other in a way no
        # specific check above anticipated: still the file's fault, and still a MindIRError.
        raise MindIRError(
            f"{p}: inconsistent MindIR contents ({type(exc).__name__}: {exc}); the file is corrupt or was "
            "written by an unsupported exporter"
        ) from exc
    if checkpoint is not None:
        model = apply_checkpoint(model, checkpoint, strict)
    return model


def _parse(path: Path, key: DecryptionKey | None = None) -> Any:
    with open_file(path, "file", ".mindir file") as fh:  # a regular file only: a FIFO would block
        data = fh.read()
    return _decode(data, path, key)


def _decode(data: bytes | memoryview, path: Path, key: DecryptionKey | None = None) -> Any:
    if not data:
        raise MindIRError(f"{path}: the file is empty")
    if key is not None:
        data = decrypt(data, key, str(path))
    elif (mode := cipher_mode(data)) and mode not in MODES:
        raise MindIRError(
            f"{path}: this MindIR file is encrypted ({mode}); mindinfer decrypts {' and '.join(MODES)} only. "
            "Export it again with one of those, or without enc_key"
        )
    elif mode:
        raise MindIRError(
            f"{path}: this MindIR file is encrypted ({mode}); pass its key: load(path, dec_key=KEY_BYTES, "
            f"dec_mode={mode!r}), or on the command line --dec-key-file FILE --dec-mode {mode}"
        )
    elif isinstance(data, bytes):  # a plain file (decrypted data is MindIR or garbage, never ONNX)
        _refuse_onnx(data, path)
    proto = pb.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        hint = "the key or mode may be wrong, or " if key is not None else ""
        raise MindIRError(
            f"{path}: not a readable MindIR file (protobuf parse failed: {exc}); "
            f"{hint}the file may be truncated, corrupt, or encrypted"
        ) from None
    if not proto.HasField("graph") or not proto.graph.name:
        raise MindIRError(
            f"{path}: parsed, but holds no MindIR graph (producer {proto.producer_name!r}); "
            "is this really a file written by mindspore.export(..., file_format='MINDIR')?"
        )
    return proto


def _refuse_onnx(data: bytes, path: Path) -> None:
    """Name an ONNX model given where MindIR was expected, instead of a protobuf parse failure.

    Both are protobuf ``ModelProto`` messages with a ``graph`` at field 7, so an ONNX file even
    parses as MindIR, and fails later on names. But ONNX starts with ``ir_version``, field 1 as a
    varint (byte 0x08, then a small version), which MindIR never writes (its field 1 is a string,
    0x0A); ONNX's ``opset_import`` (field 8, 0x42) or ``graph`` (0x3A) confirms it.
    """
    if len(data) < 4 or data[0] != 0x08 or not 1 <= data[1] <= 30 or not (b"\x42" in data or b"\x3a" in data):
        return
    rename = "" if path.suffix.lower() == ".onnx" else " (name it .onnx so that plugins recognise it)"
    raise MindIRError(
        f"{path}: this is an ONNX model (ir_version {data[1]}), not MindIR; run it with a plugin that reads "
        f"ONNX: mindinfer.Session(path, target='cpu@onnx'){rename}, or pass the original .mindir export"
    )


class _NoExternalData(ExternalData):
    """External weights of a model given as bytes: there is no folder to find them in."""

    def buffer(self, location: str, where: str) -> Any:
        raise MindIRError(
            f"{where}: the model was given as bytes, but its weights are in the external file {location!r}; "
            "load it from its path instead so that the weight files can be found next to it"
        )


@dataclass
class _Primitive:
    op: str
    attrs: dict[str, Any]


@dataclass
class _ModelBuilder:
    proto: Any
    path: Path
    key: DecryptionKey | None = None
    in_memory: bool = False
    primitives: dict[str, _Primitive] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Model:
        if self.in_memory:
            self.external: ExternalData = _NoExternalData(self.path)
        elif self.key is None:
            self.external = ExternalData(self.path)
        else:
            self.external = decrypted_external_data(self.path, self.key)
        for prim in self.proto.primitives:
            where = f"{self.path}: primitive '{prim.name}'"
            attrs = {a.name: decode_attribute(a, where) for a in prim.attribute if a.name not in _PRIM_META_ATTRS}
            self.primitives[prim.name] = _Primitive(prim.op_type, attrs)
        graph_protos = [self.proto.graph, *self.proto.functions]
        self.graph_names = {g.name for g in graph_protos}
        # Constants are model-wide: a function graph may read a constant defined in another graph.
        for g in graph_protos:
            for node in g.node:
                if node.op_type == "Constant":
                    self.constants[_output_name(node)] = self._constant_value(node, g.name)
        main = _GraphBuilder(self, self.proto.graph, is_main=True).build()
        functions = {g.name: _GraphBuilder(self, g, is_main=False).build() for g in self.proto.functions}
        return Model(
            main=main,
            functions=functions,
            source=str(self.path),
            producer=self.proto.producer_name,
            producer_version=self.proto.model_version or self.proto.producer_version,
            ir_version=self.proto.ir_version,
            encrypted=self.key is not None,
            stored_params={
                t.name.removeprefix(g.name + ":"): DTYPES.get(t.data_type, "?")  # as _GraphBuilder.short names it
                for g in graph_protos
                for t in g.parameter
            },
        )

    def _constant_value(self, node: Any, graph: str) -> Any:
        where = f"{self.path}: constant '{node.name}' (graph '{graph}')"
        values = [a for a in node.attribute if a.name == "value"]
        if not values:
            raise MindIRError(f"{where}: Constant node without a 'value' attribute")
        return decode_attribute(values[0], where, self.external)


def _output_name(node: Any) -> str:
    return node.output[0] if len(node.output) else node.name


class _GraphBuilder:
    """Builds one :class:`Graph`; ``values`` maps raw MindIR names to resolved IR inputs."""

    def __init__(self, model: _ModelBuilder, proto: Any, is_main: bool) -> None:
        self.m = model
        self.proto = proto
        self.is_main = is_main
        self.prefix = proto.name + ":"
        self.values: dict[str, Input | Monad] = {}
        self.nodes: list[Node] = []
        self.where = f"{model.path}: graph '{proto.name}'"

    def short(self, raw: str) -> str:
        return raw.removeprefix(self.prefix)

    def build(self) -> Graph:
        inputs: list[TensorSpec] = []
        for vi in self.proto.input:
            name = self.short(vi.name)
            if vi.HasField("attr_info") and vi.attr_info.type in (_A.UMONAD, _A.IOMONAD):
                self.values[vi.name] = MONAD
                continue
            abstract = self._decode_abstract(vi.attr_info, name) if vi.HasField("attr_info") else None
            if len(vi.tensor):
                spec = spec_from_proto(vi.tensor[0], name, f"{self.where}: input '{name}'")
            elif isinstance(abstract, TensorSpec):  # a Python scalar (loop counters)
                spec = TensorSpec(name, abstract.shape, abstract.dtype)
            else:  # a tuple or closure argument: no tensor spec to give
                spec = TensorSpec(name, None, "object")
            inputs.append(spec)
            self.values[vi.name] = Ref(name)

        params: dict[str, Parameter] = {}
        for t in self.proto.parameter:
            name = self.short(t.name)
            where = f"{self.where}: parameter '{name}'"
            data = tensor_data(t, where, self.m.external)
            params[name] = Parameter(TensorSpec(name, tuple(data.shape), str(data.dtype)), data)
            self.values[t.name] = Ref(name)

        produced = {_output_name(n) for n in self.proto.node if n.op_type != "Constant"}
        for node in self.proto.node:
            if node.op_type != "Constant":
                self._add_node(node, produced)

        outputs: list[Input] = []
        for vi in self.proto.output:
            value = self.resolve(vi.name, "graph output", produced)
            if not isinstance(value, Monad):
                outputs.extend(_flatten(value) if isinstance(value, TupleOf) else [value])
        output_specs = self._output_specs(outputs)
        graph = Graph(self.proto.name, inputs, outputs, self.nodes, params, output_specs)
        _prune(graph)
        return graph

    # -- resolution ---------------------------------------------------------------------------
    def resolve(self, raw: str, user: str, produced: set[str]) -> Input | Monad:
        if raw in self.values:
            return self.values[raw]
        if raw in self.m.constants:
            value = self.m.constants[raw]
            return value if isinstance(value, Monad) else Const(value, raw)
        if raw in self.m.graph_names:
            return Const(GraphRef(raw), raw)
        if raw in produced:
            raise MindIRError(f"{self.where}: {user} reads '{raw}' before it is computed (nodes out of order)")
        hint = (
            " (a free variable of another graph; closures over outer values are not supported yet)"
            if ":" in raw and not raw.startswith(self.prefix)
            else ""
        )
        raise MindIRError(f"{self.where}: {user} reads '{raw}', which is not defined in the file{hint}")

    def _add_node(self, node: Any, produced: set[str]) -> None:
        out = _output_name(node)
        name = self.short(node.name or out)
        user = f"node '{name}' ({node.op_type})"
        op, attrs, callee = self._operator(node, user, produced)
        args = [self.resolve(i, user, produced) for i in node.input]

        if op in _PASS_THROUGH:
            if not args:
                raise MindIRError(f"{self.where}: {user} has no inputs")
            self.values[out] = args[0]
            return
        if op in _DROPPED:
            self.values[out] = MONAD
            return
        if op in _TUPLE_OPS:
            self.values[out] = _make_tuple([a for a in args if not isinstance(a, Monad)])
            return
        if op in _GETITEM_OPS:
            self.values[out] = self._getitem(args, user)
            return

        inputs = [a for a in args if not isinstance(a, Monad)]
        if callee is not None:
            inputs.insert(0, callee)
        specs = self._abstract(node, name)
        if specs is not None and isinstance(specs, tuple):
            flat = _flatten_specs(specs)
            outputs = [f"{name}:{i}" for i in range(len(flat))] if len(flat) != 1 else [name]
            self.values[out] = _rebuild(specs, iter(Ref(o) for o in outputs))
            out_specs = [
                TensorSpec(o, s.shape, s.dtype) if isinstance(s, TensorSpec) else None for o, s in zip(outputs, flat)
            ]
        elif isinstance(specs, Monad):
            self.values[out] = MONAD
            return
        else:
            outputs = [name]
            self.values[out] = Ref(name)
            out_specs = [TensorSpec(name, specs.shape, specs.dtype) if isinstance(specs, TensorSpec) else None]
        self.nodes.append(Node(name, op, inputs, outputs, attrs, out_specs))

    def _operator(self, node: Any, user: str, produced: set[str]) -> tuple[str, dict[str, Any], Input | None]:
        """(primitive name, attributes, callee) for a node's ``op_type``."""
        op_type = node.op_type
        if not op_type.startswith("REF::"):
            # MindSpore 1.x style: operator name on the node, attributes next to it.
            where = f"{self.where}: {user} (operator written on the node, MindSpore 1.x style)"
            attrs = {a.name: decode_attribute(a, where) for a in node.attribute if a.name not in _NODE_META_ATTRS}
            return op_type, attrs, None
        target = op_type[5:]
        if target in self.m.primitives:
            prim = self.m.primitives[target]
            return prim.op, dict(prim.attrs), None
        if target in self.m.graph_names:
            return "Call", {}, Const(GraphRef(target), target)
        callee = self.resolve(target, user, produced)
        if isinstance(callee, Monad):
            raise MindIRError(f"{self.where}: {user} calls a monad")
        return "Call", {}, callee

    def _getitem(self, args: list[Input | Monad], user: str) -> Input | Monad:
        if len(args) < 2 or not isinstance(args[1], Const) or not isinstance(args[1].value, int):
            raise MindIRError(f"{self.where}: {user} needs a tuple and a constant index")
        seq, index = args[0], args[1].value
        if isinstance(seq, TupleOf):
            items: tuple[Any, ...] = seq.items
        elif isinstance(seq, Const) and isinstance(seq.value, tuple):
            items = tuple(Const(v) for v in seq.value)
        else:
            raise MindIRError(f"{self.where}: {user} indexes a value that is not a tuple of known length")
        if not -len(items) <= index < len(items):
            raise MindIRError(f"{self.where}: {user} index {index} is out of range for a tuple of {len(items)}")
        return items[index]

    def _abstract(self, node: Any, name: str) -> Any:
        """The node's output abstract: TensorSpec, a (nested) tuple of them, MONAD, or None."""
        for a in node.attribute:
            if a.name == "shape":
                return self._decode_abstract(a, name)
        return None

    def _decode_abstract(self, a: Any, name: str) -> Any:
        where = f"{self.where}: output abstract of '{name}'"
        if a.type == _A.TENSORS and len(a.tensors) == 1:
            return spec_from_proto(a.tensors[0], name, where)
        if a.type in (_A.TUPLE, _A.LIST):
            if a.HasField("seq_info") and a.seq_info.is_dyn_len:
                raise MindIRError(f"{where}: tuples of dynamic length are not supported")
            return tuple(self._decode_abstract(v, name) for v in a.values)
        if a.type in (_A.UMONAD, _A.IOMONAD):
            return MONAD
        if a.type == _A.SCALAR and len(a.tensors) == 1:
            return TensorSpec(name, (), spec_from_proto(a.tensors[0], name, where).dtype)
        if a.type in (_A.INT32, _A.INT64, _A.BOOL, _A.FLOAT, _A.DOUBLE, _A.SCALAR):
            return TensorSpec(name, (), _SCALAR_DTYPES.get(a.type, "float32"))
        return None  # closures, None, strings: not tensors

    def _output_specs(self, outputs: list[Input]) -> list[TensorSpec]:
        specs: list[TensorSpec] = []
        declared: list[TensorSpec] = []
        for vi in self.proto.output:
            if len(vi.tensor):
                declared.extend(spec_from_proto(t, self.short(vi.name), self.where) for t in vi.tensor)
            elif vi.HasField("attr_info"):
                flat = _flatten_specs(self._decode_abstract(vi.attr_info, self.short(vi.name)))
                declared.extend(s for s in flat if isinstance(s, TensorSpec))
        producer_specs = {o: s for n in self.nodes for o, s in zip(n.outputs, n.out_specs)}
        for i, out in enumerate(outputs):
            name = f"output_{i}" if len(outputs) > 1 else "output"
            spec = declared[i] if i < len(declared) and len(declared) == len(outputs) else None
            if spec is None and isinstance(out, Ref):
                spec = producer_specs.get(out.name)
            if spec is None and isinstance(out, Ref):
                spec = next((s for s in self._input_specs() if s.name == out.name), None)
            if spec is None:
                spec = TensorSpec(name, None, "float32")
            specs.append(TensorSpec(name, spec.shape, spec.dtype))
        return specs

    def _input_specs(self) -> list[TensorSpec]:
        return [
            spec_from_proto(vi.tensor[0], self.short(vi.name), self.where) for vi in self.proto.input if len(vi.tensor)
        ]


_SCALAR_DTYPES = {_A.INT32: "int32", _A.INT64: "int64", _A.BOOL: "bool", _A.FLOAT: "float32", _A.DOUBLE: "float64"}


def _make_tuple(items: list[Input]) -> Input:
    if all(isinstance(i, Const) for i in items):
        return Const(tuple(i.value for i in items))  # type: ignore[union-attr]
    return TupleOf(tuple(items))


def _flatten(value: TupleOf) -> list[Input]:
    out: list[Input] = []
    for item in value.items:
        out.extend(_flatten(item) if isinstance(item, TupleOf) else [item])
    return out


def _flatten_specs(specs: Any) -> list[Any]:
    if isinstance(specs, tuple):
        return [leaf for s in specs for leaf in _flatten_specs(s)]
    return [specs]


def _rebuild(specs: Any, refs: Any) -> Input:
    if isinstance(specs, tuple):
        return TupleOf(tuple(_rebuild(s, refs) for s in specs))
    return next(refs)  # type: ignore[no-any-return]


def _prune(graph: Graph) -> None:
    """Drop nodes whose outputs nothing reads (what stripping bookkeeping left dangling)."""
    live: set[str] = set()
    for out in graph.outputs:
        live.update(iter_refs(out))
    kept: list[Node] = []
    for node in reversed(graph.nodes):
        if any(o in live for o in node.outputs):
            kept.append(node)
            for item in node.inputs:
                live.update(iter_refs(item))
    graph.nodes = kept[::-1]
    graph.params = {k: v for k, v in graph.params.items() if k in live}
