"""Shared helpers for the data-making tools (run only with a MindSpore virtual environment).

MindSpore is a tool for making test data here, never a dependency of mindinfer.
"""

from __future__ import annotations

import json
import os
import zlib

import numpy as np

# Bookkeeping primitives that every export carries; they are not kernels.
BOOKKEEPING = {
    "Load",
    "UpdateState",
    "Depend",
    "MakeTuple",
    "TupleGetItem",
    "Return",
    "make_tuple",
    "tuple_getitem",
    "return",
    "depend",
    "load",
    "update_state",
    "MakeList",
    "make_list",
    "ListGetItem",
    "list_getitem",
}


def seed_for(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def read_model(path: str):
    from mindspore.train import mind_ir_pb2

    m = mind_ir_pb2.ModelProto()
    with open(path, "rb") as f:
        m.ParseFromString(f.read())
    return m


def inventory(path: str) -> dict:
    """What an exported MindIR file contains, read from the file itself."""
    m = read_model(path)
    prim_types = [p.op_type for p in m.primitives]
    # Nodes of 1.x style files (operator name straight in op_type) and any non-REF node types.
    graphs = [m.graph] + list(m.functions)
    direct = []
    for g in graphs:
        for n in g.node:
            if not n.op_type.startswith("REF::") and n.op_type != "Constant":
                direct.append(n.op_type)
    all_types = sorted(set(prim_types) | set(direct))
    kernels = sorted(t for t in all_types if t not in BOOKKEEPING)
    dtypes = set()
    dyn = False
    tp = mind_ir_pb2_dtype_names()
    for vi in m.graph.input:
        for t in vi.tensor:
            dtypes.add(tp.get(t.data_type, str(t.data_type)))
            if any(d < 0 for d in t.dims):
                dyn = True
    for p in m.graph.parameter:
        dtypes.add(tp.get(p.data_type, str(p.data_type)))
    control = len(m.functions) > 0 or any(t in ("Switch", "Partial", "SwitchLayer") for t in all_types)
    return {
        "all": all_types,
        "kernels": kernels,
        "bookkeeping": sorted(t for t in all_types if t in BOOKKEEPING),
        "dtypes": dtypes,
        "dynamic": dyn,
        "control_flow": control,
        "n_functions": len(m.functions),
        "n_nodes": sum(len(g.node) for g in graphs),
        "input_dims": [[list(t.dims) for t in vi.tensor] for vi in m.graph.input],
    }


def mind_ir_pb2_dtype_names():
    return {
        1: "float32",
        2: "uint8",
        3: "int8",
        4: "uint16",
        5: "int16",
        6: "int32",
        7: "int64",
        8: "string",
        9: "bool",
        10: "float16",
        11: "float64",
        12: "uint32",
        13: "uint64",
        16: "bfloat16",
        17: "float64",
    }


def np_dtype_name(a: np.ndarray) -> str:
    return str(a.dtype)


def flatten_outputs(out):
    import mindspore as ms

    res = []
    if isinstance(out, (tuple, list)):
        for o in out:
            res.extend(flatten_outputs(o))
    elif isinstance(out, ms.Tensor):
        res.append(out.asnumpy())
    else:
        res.append(np.asarray(out))
    return res


def tol_for(dtype: str, default_rtol: float, default_atol: float):
    if dtype.startswith("int") or dtype.startswith("uint") or dtype == "bool":
        return 0.0, 0.0
    if dtype == "float16":
        return max(default_rtol, 1e-2), max(default_atol, 1e-3)
    return default_rtol, default_atol


def write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def randomise_parameters(net, rng: np.random.Generator) -> None:
    """Give every parameter a seeded random value; BatchNorm statistics get plausible random values."""
    import mindspore as ms

    for p in net.get_parameters():
        name = p.name.lower()
        shape = tuple(p.shape)
        dt = p.dtype
        npdt = np.float16 if dt == ms.float16 else np.float32
        if dt not in (ms.float16, ms.float32):
            continue
        if "moving_variance" in name or "moving_var" in name or name.endswith("variance"):
            v = rng.uniform(0.5, 2.0, size=shape)
        elif "moving_mean" in name:
            v = rng.normal(0.0, 0.5, size=shape)
        elif "gamma" in name:
            v = rng.uniform(0.5, 1.5, size=shape)
        elif "beta" in name or "bias" in name:
            v = rng.normal(0.0, 0.2, size=shape)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) >= 2 else max(1, shape[0] if shape else 1)
            v = rng.normal(0.0, 1.0 / np.sqrt(max(fan_in, 1)), size=shape)
        p.set_data(ms.Tensor(np.asarray(v, dtype=npdt)))


def dir_size(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    return total


_ATTR_SCALAR = {1: "f", 11: "d", 8: "s", 9: "i"}


def attr_to_py(a, depth=0):
    """A readable Python value for a mind_ir AttributeProto (primitive attributes, constants)."""
    t = a.type
    if t in (20, 21):  # TUPLE, LIST
        return [attr_to_py(v, depth + 1) for v in a.values]
    if t in (2, 3, 4, 5, 6, 7, 12, 13):  # integers
        return int(a.i) if a.HasField("i") else (int(a.ints[0]) if len(a.ints) else 0)
    if t == 9:  # BOOL
        return bool(a.i) if a.HasField("i") else (bool(a.ints[0]) if len(a.ints) else False)
    if t == 1:
        return float(a.f) if a.HasField("f") else (float(a.floats[0]) if len(a.floats) else 0.0)
    if t == 11:
        return float(a.d) if a.HasField("d") else (float(a.doubles[0]) if len(a.doubles) else 0.0)
    if t == 8:
        v = a.s if a.HasField("s") else (a.strings[0] if len(a.strings) else b"")
        return v.decode("utf-8", "replace")
    if t in (17, 19):
        ts = [a.t] if t == 17 else list(a.tensors)
        names = mind_ir_pb2_dtype_names()
        out = []
        for x in ts:
            d = {"tensor_dims": list(x.dims), "dtype": names.get(x.data_type, x.data_type)}
            if x.raw_data and len(x.raw_data) <= 64:
                dt = {1: np.float32, 10: np.float16, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}.get(
                    x.data_type
                )
                if dt is not None:
                    d["value"] = np.frombuffer(x.raw_data, dtype=dt).tolist()
            out.append(d)
        return out[0] if t == 17 else out
    if t == 25:
        return None
    return f"<{a.AttributeType.Name(t) if hasattr(a, 'AttributeType') else t}>"


def primitive_attributes(path: str) -> dict:
    """{primitive name: {"op_type":..., attr: value}} for the non-bookkeeping primitives of a file."""
    m = read_model(path)
    res = {}
    for p in m.primitives:
        if p.op_type in BOOKKEEPING:
            continue
        d = {"op_type": p.op_type}
        for a in p.attribute:
            if a.name in ("input_names", "output_names"):
                continue
            try:
                d[a.name] = attr_to_py(a)
            except Exception as e:  # noqa: BLE001
                d[a.name] = f"<unreadable {e}>"
        res[p.name] = d
    return res


def _fmt_const(v):
    if isinstance(v, dict) and "tensor_dims" in v:
        if "value" in v and len(v["value"]) <= 8:
            return f"tensor{v['tensor_dims']}:{v['dtype']}={v['value']}"
        return f"tensor{v['tensor_dims']}:{v['dtype']}"
    if isinstance(v, list) and len(v) == 1 and isinstance(v[0], dict):
        return _fmt_const(v[0])
    if isinstance(v, float):
        return repr(float("%.8g" % v))
    return repr(v)


def node_calls(path: str, limit: int = 40) -> list:
    """Distinct kernel calls in a file: 'Op(x, <const>, ...)' with constant inputs rendered.

    In MindSpore 2.x many former primitive attributes (axis, keep_dims, transpose flags, exclusive, ...)
    are passed as Constant inputs, so this is where a kernel writer sees them.
    """
    m = read_model(path)
    prim_type = {p.name: p.op_type for p in m.primitives}
    res = []
    for g in [m.graph] + list(m.functions):
        consts = {}
        for n in g.node:
            if n.op_type == "Constant":
                v = next((a for a in n.attribute if a.name == "value"), None)
                if v is None:
                    continue
                try:
                    val = _fmt_const(attr_to_py(v))
                except Exception:  # noqa: BLE001
                    val = "<const>"
                for key in [n.name, *n.output]:
                    consts[key] = val
        for n in g.node:
            if not n.op_type.startswith("REF::"):
                continue
            ref = n.op_type[5:]
            t = prim_type.get(ref)
            if t is None or t in BOOKKEEPING:
                continue
            args = []
            for i in n.input:
                if i in consts:
                    args.append(consts[i])
                elif i.split(":")[-1] in consts:
                    args.append(consts[i.split(":")[-1]])
                else:
                    args.append("x")
            s = f"{t}({', '.join(a for a in args if a != 'UMONAD' and 'MONAD' not in a)})"
            if s not in res:
                res.append(s)
    return res[:limit]


def requirement_fields(inv: dict, dtypes: list[str]) -> dict:
    """The case.json fields every case kind derives from an exported file's inventory."""
    return {
        "primitives": inv["kernels"],
        "requires": {
            "primitives": inv["kernels"],
            "dtypes": dtypes,
            "dynamic_shape": bool(inv["dynamic"]),
            "control_flow": bool(inv["control_flow"]),
        },
        "bookkeeping_primitives": inv["bookkeeping"],
        "function_graphs": inv["n_functions"],
        "nodes": inv["n_nodes"],
    }
