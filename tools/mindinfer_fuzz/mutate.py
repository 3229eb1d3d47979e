"""Mutation classes: each turns one seed case into one malformed case, reproducibly from its ``rng``.

A mutator gets the parsed seed (a ``ModelProto``), its raw bytes, the mutant's folder (to add
files next to the model: external data, FIFOs, symlinks) and a ``random.Random``. It changes the
proto in place (structure-aware classes) or returns new bytes (byte-level classes), and returns a
one-line description of what it did, for the findings list.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mindinfer._proto import mind_ir_pb2 as pb

_T = pb.TensorProto
_A = pb.AttributeProto

#: A structure-aware mutator: (proto, folder, rng) -> description; it edits ``proto`` in place.
ProtoMutator = Callable[[Any, Path, random.Random], str]
#: A byte-level mutator: (bytes, other seed's bytes, rng) -> (new bytes, description).
ByteMutator = Callable[[bytes, bytes, random.Random], tuple[bytes, str]]

_DTYPE_CODES = sorted(_T.DataType.values())
_ODD_DIMS = [0, 1, -1, -2, -3, 2, 3, 7, 1 << 16, 1 << 31, 1 << 40, (1 << 63) - 1]
#: Primitive names a node may be turned into (common, with fixed argument lists).
_OPS = ["Conv2D", "MatMul", "BatchNorm", "Add", "Reshape", "Transpose", "Concat", "Softmax", "ReLU",
        "MaxPool", "AvgPool", "BiasAdd", "LayerNorm", "StridedSlice", "Gather", "ReduceMean", "Cast",
        "Split", "TopK", "BatchMatMul", "Switch", "Partial", "Call", "Load", "TupleGetItem", "MakeTuple",
        "Depend", "UpdateState", "Return", "NoSuchPrimitive"]  # fmt: skip


class Skip(Exception):
    """The seed has nothing this mutator can change (another seed is drawn)."""


def graphs(m: Any) -> list[Any]:
    return [m.graph, *m.functions]


def _params(m: Any) -> list[tuple[Any, Any]]:
    return [(g, t) for g in graphs(m) for t in g.parameter]


def _pick(rng: random.Random, items: list[Any]) -> Any:
    if not items:
        raise Skip
    return rng.choice(items)


def _itemsize(code: int) -> int:
    return {_T.FLOAT: 4, _T.UINT8: 1, _T.INT8: 1, _T.UINT16: 2, _T.INT16: 2, _T.INT32: 4, _T.INT64: 8,
            _T.BOOL: 1, _T.FLOAT16: 2, _T.DOUBLE: 8, _T.UINT32: 4, _T.UINT64: 8, _T.COMPLEX64: 8,
            _T.COMPLEX128: 16, _T.BFLOAT16: 2, _T.FLOAT64: 8}.get(code, 4)  # fmt: skip


def _count(dims: Any) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _factorizations(n: int, rng: random.Random) -> list[list[int]]:
    """A few shapes with ``n`` elements, other than the obvious one."""
    shapes = [[n], [1, n], [n, 1], [1, 1, 1, n]]
    divisors = [d for d in range(2, min(n, 64) + 1) if n % d == 0]
    if divisors:
        d = rng.choice(divisors)
        shapes += [[d, n // d], [n // d, d, 1]]
    return shapes


# ---- structure-aware ---------------------------------------------------------------------------
def mutate_dims(m: Any, folder: Path, rng: random.Random) -> str:
    """A parameter or input shape that disagrees with its uses (element count kept or not)."""
    choice = rng.random()
    if choice < 0.45:  # same bytes, other shape: reaches compile, where uses must be checked
        _, t = _pick(rng, [(g, t) for g, t in _params(m) if len(t.dims)])
        new = rng.choice(_factorizations(_count(t.dims), rng))
        old = list(t.dims)
        del t.dims[:]
        t.dims.extend(new)
        return f"parameter {t.name} dims {old} -> {new} (same data)"
    if choice < 0.6:  # an empty parameter (a BatchNorm beta with dims [0])
        _, t = _pick(rng, _params(m))
        old = list(t.dims)
        del t.dims[:]
        t.dims.append(0)
        t.ClearField("raw_data")
        t.raw_data = b""
        return f"parameter {t.name} dims {old} -> [0], no data"
    if choice < 0.8:
        tensors = [vi.tensor[0] for g in graphs(m) for vi in g.input if len(vi.tensor)]
        t = _pick(rng, tensors)
    else:
        t = _pick(rng, [t for _, t in _params(m)])
    old = list(t.dims)
    op = rng.choice(["set", "drop", "add"])
    if op == "set" and old:
        t.dims[rng.randrange(len(old))] = rng.choice(_ODD_DIMS)
    elif op == "drop" and old:
        del t.dims[rng.randrange(len(old))]
    else:
        t.dims.insert(rng.randrange(len(old) + 1), rng.choice(_ODD_DIMS))
    return f"tensor {t.name} dims {old} -> {list(t.dims)}"


def mutate_dtype(m: Any, folder: Path, rng: random.Random) -> str:
    """A tensor's data_type changed: to another real type (same or other size) or an unknown code."""
    tensors = [t for _, t in _params(m)] + [vi.tensor[0] for g in graphs(m) for vi in g.input if len(vi.tensor)]
    tensors += [a.t for p in m.primitives for a in p.attribute if a.type == _A.TENSOR]
    tensors += [a.tensors[0] for g in graphs(m) for n in g.node for a in n.attribute if len(a.tensors)]
    t = _pick(rng, tensors)
    old = t.data_type
    same = [c for c in _DTYPE_CODES if c and _itemsize(c) == _itemsize(old) and c != old]
    new = rng.choice(same) if same and rng.random() < 0.5 else rng.choice([*_DTYPE_CODES, 99, -1 & 0x7FFFFFFF])
    t.data_type = new
    return f"tensor {t.name or '(abstract)'} data_type {old} -> {new}"


def _mutate_value(a: Any, rng: random.Random) -> str:
    before = f"{_A.AttributeType.Name(a.type) if a.type in _A.AttributeType.values() else a.type}"
    r = rng.random()
    if r < 0.15:
        a.type = rng.choice(list(_A.AttributeType.values()))
        return f"type {before} -> {a.type}"
    if a.type in (_A.TUPLE, _A.LIST) and len(a.values):
        if r < 0.4:
            del a.values[rng.randrange(len(a.values))]
            return "tuple item dropped"
        if r < 0.55:
            a.values.add().CopyFrom(a.values[rng.randrange(len(a.values))])
            return "tuple item duplicated"
        return _mutate_value(a.values[rng.randrange(len(a.values))], rng)
    if len(a.ints) or a.type in (_A.INT8, _A.INT16, _A.INT32, _A.INT64, _A.UINT8, _A.BOOL):
        value = rng.choice([0, -1, -7, 1 << 20, (1 << 63) - 1, -(1 << 63), rng.randrange(-9, 10)])
        if len(a.ints):
            a.ints[rng.randrange(len(a.ints))] = value
        else:
            a.i = value
        return f"int -> {value}"
    if a.type in (_A.FLOAT, _A.DOUBLE):
        value = rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e30, -1e-30])
        a.f = value
        a.d = value
        del a.floats[:]
        del a.doubles[:]
        return f"float -> {value}"
    if a.type == _A.STRING:
        a.s = rng.choice([b"", b"NHWC", b"same", b"valid", b"\xff\xfe", b"x" * 1000])
        del a.strings[:]
        return f"string -> {a.s[:12]!r}"
    if a.type == _A.TENSORS and len(a.tensors):
        t = a.tensors[0]
        choice = rng.random()
        if choice < 0.4 and t.HasField("raw_data"):
            t.raw_data = t.raw_data[: rng.randrange(len(t.raw_data) + 1)] if t.raw_data else b"\0" * 3
            return "constant raw_data truncated"
        if choice < 0.7:
            t.dims.append(rng.choice(_ODD_DIMS))
            return f"constant dims -> {list(t.dims)}"
        if t.HasField("raw_data") and len(t.raw_data) >= 4 and t.data_type in (_T.INT32, _T.INT64):
            size = _itemsize(t.data_type)
            value = rng.choice([0, -1, 1 << 30, -(1 << 30), 99]).to_bytes(size, "little", signed=True)
            k = rng.randrange(len(t.raw_data) // size)
            t.raw_data = t.raw_data[: k * size] + value + t.raw_data[(k + 1) * size :]
            return "constant int element -> odd value"
        t.data_type = rng.choice(_DTYPE_CODES)
        return f"constant dtype -> {t.data_type}"
    a.type = _A.NONE
    return f"{before} -> NONE"


def mutate_attribute(m: Any, folder: Path, rng: random.Random) -> str:
    """A primitive attribute or a constant argument: odd value, other kind, shorter tuple, removed."""
    holders = [(f"primitive {p.op_type}", p) for p in m.primitives if len(p.attribute)]
    holders += [(f"node {n.name} ({n.op_type})", n) for g in graphs(m) for n in g.node if len(n.attribute)]
    where, holder = _pick(rng, holders)
    i = rng.randrange(len(holder.attribute))
    a = holder.attribute[i]
    if rng.random() < 0.15:
        del holder.attribute[i]
        return f"{where}: attribute {a.name} removed"
    return f"{where}: attribute {a.name}: {_mutate_value(a, rng)}"


def _value_names(g: Any) -> list[str]:
    names = [vi.name for vi in g.input] + [t.name for t in g.parameter]
    return names + [out for n in g.node for out in n.output]


def mutate_node_inputs(m: Any, folder: Path, rng: random.Random) -> str:
    """A node's inputs: one dropped, duplicated, swapped, pointed elsewhere or at nothing."""
    g = _pick(rng, [g for g in graphs(m) if len(g.node)])
    node = _pick(rng, [n for n in g.node if len(n.input)])
    op = rng.choice(["drop", "drop_all", "dup", "swap", "other", "undefined", "extra"])
    if op == "drop":
        del node.input[rng.randrange(len(node.input))]
    elif op == "drop_all":
        del node.input[:]
    elif op == "dup":
        node.input.append(node.input[rng.randrange(len(node.input))])
    elif op == "swap" and len(node.input) > 1:
        i, j = rng.sample(range(len(node.input)), 2)
        node.input[i], node.input[j] = node.input[j], node.input[i]
    elif op == "undefined":
        node.input[rng.randrange(len(node.input))] = f"{g.name}:no_such_value"
    else:
        earlier = _value_names(g)
        pick = rng.choice(earlier) if earlier else "x"
        if op == "extra":
            node.input.append(pick)
        else:
            node.input[rng.randrange(len(node.input))] = pick
    return f"graph {g.name}: node {node.name} ({node.op_type}) inputs {op}"


def mutate_op_type(m: Any, folder: Path, rng: random.Random) -> str:
    """A node or primitive becomes another primitive (with the wrong number of arguments)."""
    new = rng.choice(_OPS)
    if rng.random() < 0.5 and len(m.primitives):
        p = rng.choice(m.primitives)
        old, p.op_type = p.op_type, new
        return f"primitive {p.name}: {old} -> {new}"
    g = _pick(rng, [g for g in graphs(m) if len(g.node)])
    node = rng.choice(g.node)
    old, node.op_type = node.op_type, new  # MindSpore 1.x style: the primitive on the node itself
    return f"graph {g.name}: node {node.name} op_type {old} -> {new}"


def mutate_cycle(m: Any, folder: Path, rng: random.Random) -> str:
    """A node reads its own output or a later node's (a dataflow cycle), or a graph reads a later one."""
    g = _pick(rng, [g for g in graphs(m) if len(g.node) and any(len(n.input) for n in g.node)])
    i = rng.choice([k for k, n in enumerate(g.node) if len(n.input)])
    j = rng.randrange(i, len(g.node))
    node, later = g.node[i], g.node[j]
    if not len(later.output):
        later.output.append(later.name)
    node.input[rng.randrange(len(node.input))] = later.output[0]
    if rng.random() < 0.2 and len(g.node) > 1:  # also reorder, so that order alone does not reveal it
        a, b = rng.sample(range(len(g.node)), 2)
        na, nb = pb.NodeProto(), pb.NodeProto()
        na.CopyFrom(g.node[a])
        nb.CopyFrom(g.node[b])
        g.node[a].CopyFrom(nb)
        g.node[b].CopyFrom(na)
    return f"graph {g.name}: node {node.name} reads {later.name}'s output ({'self' if i == j else 'later'})"


def _call_node(g: Any, callee: str, args: list[str], name: str) -> Any:
    n = g.node.add()
    n.name = name
    n.op_type = f"REF::{callee}"
    n.input.extend(args)
    n.output.append(name)
    return n


def _return(g: Any, value: str) -> None:
    """Make ``value`` the graph's (only) result."""
    del g.output[:]
    out = g.output.add()
    out.name = value


RECURSION_KINDS = ("self", "mutual", "own_inputs", "retarget", "always_true")


def mutate_recursion(m: Any, folder: Path, rng: random.Random) -> str:
    """Recursion with no base case (self, mutual, with own inputs), or a loop whose exit never holds."""
    loops = ("retarget", "always_true")  # need function graphs: most of a loop seed's mutants
    kind = rng.choice(loops) if len(m.functions) and rng.random() < 0.7 else rng.choice(RECURSION_KINDS)
    return make_recursion(m, kind, rng)


def make_recursion(m: Any, kind: str, rng: random.Random) -> str:
    """One of :data:`RECURSION_KINDS` (``retarget``/``always_true`` need a model with a loop or
    branch, else they fall back to ``self``)."""
    funcs = list(m.functions)
    if kind == "always_true":
        switches = [
            (g, n) for g in graphs(m) for n in g.node
            if n.op_type.startswith("REF::") and any(
                p.name == n.op_type[5:] and p.op_type == "Switch" for p in m.primitives
            )
        ]  # fmt: skip
        if not switches:
            kind = "self"
        else:
            g, n = rng.choice(switches)
            c = g.node.add()  # the loader reads Constant nodes model-wide, wherever they stand
            c.name = f"{g.name}:always_true"
            c.output.append(c.name)
            c.op_type = "Constant"
            a = c.attribute.add()
            a.name = "value"
            a.type = _A.TENSORS
            t = a.tensors.add()
            t.data_type = _T.BOOL
            t.raw_data = b"\x01"
            n.input[0] = f"{g.name}:always_true"
            return f"graph {g.name}: Switch {n.name} condition always true"
    if kind == "retarget" and funcs:
        calls = [(g, n) for g in m.functions for n in g.node if n.op_type[5:] in {f.name for f in funcs}]
        if calls:
            g, n = rng.choice(calls)
            old, n.op_type = n.op_type, f"REF::{g.name}"
            return f"graph {g.name}: call {old[5:]} -> itself"
        kind = "self"
    main = m.graph
    args = [vi.name for vi in main.input]
    if kind == "mutual":
        a, b = m.functions.add(), m.functions.add()
        a.name, b.name = "fuzz_ping", "fuzz_pong"
        for g, other in ((a, b), (b, a)):
            for name in args:
                vi = g.input.add()
                vi.CopyFrom(next(v for v in main.input if v.name == name))
                vi.name = f"{g.name}:{name.split(':')[-1]}"
            _call_node(g, other.name, [vi.name for vi in g.input], f"{g.name}:call")
            _return(g, f"{g.name}:call")
        target = a.name
    else:
        f = m.functions.add()
        f.name = "fuzz_self"
        for name in args:
            vi = f.input.add()
            vi.CopyFrom(next(v for v in main.input if v.name == name))
            vi.name = f"fuzz_self:{name.split(':')[-1]}"
        inner = [vi.name for vi in f.input]
        if kind != "own_inputs" and inner:  # recurse on a computed value, not the inputs themselves
            prim = next((p for p in m.primitives if p.op_type in ("ReLU", "Neg", "Abs", "Sin", "Sigmoid")), None)
            if prim is not None:
                n = f.node.add()
                n.name = "fuzz_self:step"
                n.op_type = f"REF::{prim.name}"
                n.input.append(inner[0])
                n.output.append("fuzz_self:step")
                inner = ["fuzz_self:step", *inner[1:]]
        _call_node(f, f.name, inner, "fuzz_self:call")
        _return(f, "fuzz_self:call")
        target = f.name
    call = _call_node(main, target, args, f"{main.name}:fuzz_entry")
    _return(main, call.name)
    return f"{kind} recursion through {target}"


def _to_external(m: Any, folder: Path, rng: random.Random) -> tuple[Path, list[Any]]:
    """Move every parameter's bytes into ``net_variables/data_0`` (MindSpore's split layout)."""
    params = [t for _, t in _params(m) if t.HasField("raw_data")]
    if not params:
        raise Skip
    var = folder / "net_variables"
    var.mkdir(exist_ok=True)
    blob = bytearray()
    for t in params:
        blob.extend(b"\0" * (-len(blob) % 64))
        offset = len(blob)
        blob.extend(t.raw_data)
        t.ClearField("raw_data")
        t.external_data.location = "net_variables/data_0"
        t.external_data.offset = offset
        t.external_data.length = len(blob) - offset
    (var / "data_0").write_bytes(bytes(blob))
    return var / "data_0", params


EXTERNAL_KINDS = (
    "valid", "fifo", "self_symlink", "symlink_loop", "dev_zero", "directory", "missing", "outside",
    "absolute", "offset", "length", "empty_file", "truncated_file", "dangling", "socket_like",
)  # fmt: skip


def mutate_external_data(m: Any, folder: Path, rng: random.Random) -> str:
    """Weights moved to an external file, then the file or its reference made hostile."""
    return make_external(m, folder, rng.choice(EXTERNAL_KINDS), rng)


def make_external(m: Any, folder: Path, kind: str, rng: random.Random) -> str:
    """Weights moved to ``folder/net_variables/data_0``, then one of :data:`EXTERNAL_KINDS` done to
    one parameter's reference or to the file."""
    data, params = _to_external(m, folder, rng)
    t = rng.choice(params)
    ext = t.external_data
    if kind == "fifo":
        os.mkfifo(folder / "net_variables" / "pipe")
        ext.location = "net_variables/pipe"
    elif kind == "self_symlink":
        os.symlink("self", folder / "net_variables" / "self")
        ext.location = "net_variables/self"
    elif kind == "symlink_loop":
        os.symlink("b", folder / "net_variables" / "a")
        os.symlink("a", folder / "net_variables" / "b")
        ext.location = "net_variables/a"
    elif kind == "dev_zero":
        os.symlink("/dev/zero", folder / "net_variables" / "zero")
        ext.location = "net_variables/zero"
    elif kind == "directory":
        ext.location = "net_variables"
    elif kind == "missing":
        ext.location = "net_variables/data_9"
    elif kind == "outside":
        ext.location = rng.choice(["../data_0", "net_variables/../../x", "./../../etc/passwd"])
    elif kind == "absolute":
        ext.location = str(data)
    elif kind == "offset":
        ext.offset = rng.choice([-1, -(1 << 62), 1 << 40, ext.offset + 1])
    elif kind == "length":
        ext.length = rng.choice([0, -1, 1 << 40, ext.length + 1, max(ext.length - 1, 0)])
    elif kind == "empty_file":
        data.write_bytes(b"")
    elif kind == "truncated_file":
        size = data.stat().st_size
        data.write_bytes(data.read_bytes()[: rng.randrange(size)] if size else b"")
    elif kind == "dangling":
        os.symlink("nowhere", folder / "net_variables" / "gone")
        ext.location = "net_variables/gone"
    elif kind == "socket_like":
        os.symlink("/proc/self/fd/0", folder / "net_variables" / "stdin")
        ext.location = "net_variables/stdin"
    return f"external data ({len(params)} parameters): {kind} for {t.name}"


def mutate_raw_length(m: Any, folder: Path, rng: random.Random) -> str:
    """raw_data bytes that do not match dims: truncated, extended, emptied; or dims grown to match."""
    tensors = [t for _, t in _params(m) if t.HasField("raw_data")]
    tensors += [a.tensors[0] for g in graphs(m) for n in g.node for a in n.attribute
                if len(a.tensors) and a.tensors[0].HasField("raw_data")]  # fmt: skip
    t = _pick(rng, tensors)
    n = len(t.raw_data)
    op = rng.choice(["truncate", "extend", "empty", "odd", "grow_dims"])
    if op == "truncate":
        t.raw_data = t.raw_data[: rng.randrange(n + 1)] if n else b""
    elif op == "extend":
        t.raw_data = t.raw_data + bytes(rng.randrange(1, 65))
    elif op == "empty":
        t.raw_data = b""
    elif op == "odd":
        t.raw_data = t.raw_data[:-1] if n else b"\0"
    else:  # consistent bytes for a bigger shape: allocation bounded by the file itself
        factor = rng.choice([2, 3, 16])
        t.raw_data = t.raw_data * factor
        t.dims.insert(0, factor)
    return f"tensor {t.name or '(constant)'} raw_data {op} ({n} bytes -> {len(t.raw_data)})"


# ---- byte-level --------------------------------------------------------------------------------
def bytes_flip(data: bytes, other: bytes, rng: random.Random) -> tuple[bytes, str]:
    buf = bytearray(data)
    k = rng.choice([1, 2, 4, 16, 64])
    for _ in range(k):
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else rng.randrange(1, 256)
    return bytes(buf), f"{k} bytes flipped"


def bytes_truncate(data: bytes, other: bytes, rng: random.Random) -> tuple[bytes, str]:
    n = rng.randrange(len(data))
    return data[:n], f"truncated to {n} of {len(data)} bytes"


def bytes_insert(data: bytes, other: bytes, rng: random.Random) -> tuple[bytes, str]:
    i = rng.randrange(len(data) + 1)
    blob = rng.choice([bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32))), b"\xff" * 8, b"\0" * 64])
    return data[:i] + blob + data[i:], f"{len(blob)} bytes inserted at {i}"


def bytes_splice(data: bytes, other: bytes, rng: random.Random) -> tuple[bytes, str]:
    i, j = rng.randrange(len(data)), rng.randrange(len(other))
    return data[:i] + other[j:], f"first {i} bytes + another seed's bytes from {j}"


@dataclass(frozen=True)
class MutationClass:
    name: str
    proto: ProtoMutator | None = None
    raw: ByteMutator | None = None
    #: Seeds (their bytes) this class is meant for: half of its mutants are drawn among them.
    prefer: Callable[[bytes], bool] | None = None


def _has_loop(data: bytes) -> bool:
    return b"Switch" in data and b"Partial" in data


CLASSES: dict[str, MutationClass] = {
    c.name: c
    for c in (
        MutationClass("dims", proto=mutate_dims),
        MutationClass("dtype", proto=mutate_dtype),
        MutationClass("attribute", proto=mutate_attribute),
        MutationClass("node_inputs", proto=mutate_node_inputs),
        MutationClass("op_type", proto=mutate_op_type),
        MutationClass("cycle", proto=mutate_cycle),
        MutationClass("recursion", proto=mutate_recursion, prefer=_has_loop),
        MutationClass("external_data", proto=mutate_external_data),
        MutationClass("raw_length", proto=mutate_raw_length),
        MutationClass("bytes_flip", raw=bytes_flip),
        MutationClass("bytes_truncate", raw=bytes_truncate),
        MutationClass("bytes_insert", raw=bytes_insert),
        MutationClass("bytes_splice", raw=bytes_splice),
    )
}
