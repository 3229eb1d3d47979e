"""mindinfer.load on real MindSpore exports, the split-weights layout, and every kind of bad file."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from mindinfer._loader import load
from mindinfer._proto import mind_ir_pb2 as pb
from mindinfer.errors import MindIRError
from mindinfer.ir import CONTROL_FLOW_OPS, Const, GraphRef, Ref, TupleOf

CASES = Path(__file__).resolve().parents[2] / "conformance" / "mindinfer_conformance" / "cases" / "model"
# The seven cases of the shared corpus; other model cases (small zoo networks) are loaded too.
CORPUS_NAMES = {
    "branchy_if",
    "lenet5",
    "mlp_layernorm_gelu",
    "small_cnn_bn",
    "small_cnn_dynamic_batch",
    "transformer_block",
    "two_in_two_out",
}
CORPUS = sorted(p.name for p in CASES.iterdir() if (p / "model.mindir").exists())
BOOKKEEPING = {"Load", "UpdateState", "Depend", "MakeTuple", "TupleGetItem", "Constant", "Return"}


def _proto(case: str) -> pb.ModelProto:
    m = pb.ModelProto()
    m.ParseFromString((CASES / case / "model.mindir").read_bytes())
    return m


def _write(tmp_path: Path, proto: pb.ModelProto, name: str = "model.mindir") -> Path:
    path = tmp_path / name
    path.write_bytes(proto.SerializeToString())
    return path


def test_corpus_is_present() -> None:
    assert CORPUS_NAMES <= set(CORPUS), CORPUS_NAMES - set(CORPUS)


@pytest.mark.parametrize("case", CORPUS)
def test_corpus_loads_as_clean_dataflow(case: str) -> None:
    model = load(CASES / case / "model.mindir")
    ins = [np.load(CASES / case / f"input_{i}.npy") for i in range(len(model.inputs))]
    for spec, arr in zip(model.inputs, ins):
        assert spec.dtype == str(arr.dtype)
        assert len(spec.shape) == arr.ndim
        assert all(d in (-1, a) for d, a in zip(spec.shape, arr.shape))
    outs = sorted((CASES / case).glob("output_*.npy"))
    assert len(model.outputs) == len(outs)
    for graph in model.graphs:
        ops = {n.op for n in graph.nodes}
        assert not ops & BOOKKEEPING, ops & BOOKKEEPING
        defined = {s.name for s in graph.inputs} | set(graph.params)
        for node in graph.nodes:  # topological order: every Ref is defined before use
            for item in node.inputs:
                for ref in _refs(item):
                    assert ref in defined, (node, ref)
            defined.update(node.outputs)
            assert len(node.out_specs) == len(node.outputs)
    # weights are read-only, and views of the file's bytes rather than copies wherever aligned
    params = model.parameters()
    assert all(not p.data.flags.writeable for p in params)
    assert sum(not p.data.flags.owndata for p in params) >= len(params) // 2


def _refs(item: object) -> list[str]:
    if isinstance(item, Ref):
        return [item.name]
    if isinstance(item, TupleOf):
        return [r for i in item.items for r in _refs(i)]
    return []


def test_dynamic_batch_is_minus_one() -> None:
    model = load(CASES / "small_cnn_dynamic_batch" / "model.mindir")
    assert model.inputs[0].shape == (-1, 3, 32, 32)
    assert model.is_dynamic
    assert model.outputs[0].shape == (-1, 5)


def test_branchy_if_keeps_function_graphs() -> None:
    model = load(CASES / "branchy_if" / "model.mindir")
    assert len(model.functions) == 2
    ops = [n.op for n in model.main.nodes]
    assert {"Switch", "Partial", "Call"} <= set(ops) and set(ops) & CONTROL_FLOW_OPS
    partials = [n for n in model.main.nodes if n.op == "Partial"]
    for p in partials:
        target = p.inputs[0]
        assert isinstance(target, Const) and isinstance(target.value, GraphRef)
        callee = model.graph(target.value.graph)
        # monads are stripped on both sides, so bound arguments line up with the callee's inputs
        assert len(p.inputs) - 1 == len(callee.inputs)


def test_tuple_plumbing_resolved() -> None:
    model = load(CASES / "two_in_two_out" / "model.mindir")
    concat = next(n for n in model.main.nodes if n.op == "Concat")
    assert isinstance(concat.inputs[0], TupleOf)
    assert [r.name for r in concat.inputs[0].items] == ["a", "b"]  # type: ignore[union-attr]
    assert len(model.main.outputs) == 2
    ln = load(CASES / "mlp_layernorm_gelu" / "model.mindir")
    layernorm = next(n for n in ln.main.nodes if n.op == "LayerNorm")
    assert len(layernorm.outputs) == 3  # (y, mean, rstd); TupleGetItem picked the first


def test_model_prints() -> None:
    text = str(load(CASES / "lenet5" / "model.mindir"))
    assert "Conv2D(" in text and "param" in text and "return" in text


# ---- bad input: always a MindIRError naming the file, never a raw traceback -------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MindIRError, match="no such file"):
        load(tmp_path / "nope.mindir")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(MindIRError, match="directory"):
        load(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.mindir").write_bytes(b"")
    with pytest.raises(MindIRError, match="empty"):
        load(tmp_path / "e.mindir")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file(tmp_path: Path, fraction: float) -> None:
    data = (CASES / "lenet5" / "model.mindir").read_bytes()
    path = tmp_path / "t.mindir"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(MindIRError, match=str(path)):
        load(path)


def test_random_bytes(tmp_path: Path) -> None:
    rng = random.Random(0)
    for i in range(20):
        path = tmp_path / f"r{i}.mindir"
        path.write_bytes(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))))
        with pytest.raises(MindIRError):
            load(path)


@pytest.mark.parametrize("magic,mode", [(0x7F3A5ED8, "AES-GCM"), (0x7F3A5ED9, "AES-CBC"), (0x7F3A5EDA, "SM4-CBC")])
def test_encrypted_file(tmp_path: Path, magic: int, mode: str) -> None:
    path = tmp_path / "enc.mindir"
    path.write_bytes(magic.to_bytes(4, "little") + bytes(range(200)))
    hint = "decrypts AES-GCM and AES-CBC only" if mode == "SM4-CBC" else f"dec_key=KEY_BYTES, dec_mode='{mode}'"
    with pytest.raises(MindIRError, match=f"encrypted \\({mode}\\).*{hint}"):
        load(path)


def test_dangling_node_input(tmp_path: Path) -> None:
    m = _proto("lenet5")
    node = next(n for n in m.graph.node if n.op_type.startswith("REF::Conv2D"))
    node.input[0] = m.graph.name + ":does_not_exist"
    with pytest.raises(MindIRError, match=r"node '.*' \(REF::Conv2D.*does_not_exist.*not defined"):
        load(_write(tmp_path, m))


def test_dims_disagree_with_bytes(tmp_path: Path) -> None:
    m = _proto("lenet5")
    param = m.graph.parameter[0]
    param.dims[0] += 1
    with pytest.raises(MindIRError, match=r"parameter '.*weight'.*needs \d+ bytes but raw_data has \d+"):
        load(_write(tmp_path, m))


def test_absurd_dims_refused_before_allocating(tmp_path: Path) -> None:
    m = _proto("lenet5")
    param = m.graph.parameter[0]
    del param.dims[:]
    param.dims.extend([1 << 30, 1 << 30, 1 << 20])
    with pytest.raises(MindIRError, match="corrupt"):
        load(_write(tmp_path, m))


def test_negative_dim_in_weights(tmp_path: Path) -> None:
    m = _proto("lenet5")
    m.graph.parameter[0].dims[0] = -7
    with pytest.raises(MindIRError, match="invalid dimension -7"):
        load(_write(tmp_path, m))


def test_unknown_dtype(tmp_path: Path) -> None:
    m = _proto("lenet5")
    m.graph.parameter[0].data_type = 99
    with pytest.raises(MindIRError, match="unknown tensor data_type 99"):
        load(_write(tmp_path, m))


def test_not_a_mindir_file(tmp_path: Path) -> None:
    path = tmp_path / "x.mindir"
    path.write_bytes(pb.ModelProto(producer_name="Other").SerializeToString())
    with pytest.raises(MindIRError, match="holds no MindIR graph"):
        load(path)


def test_fuzzed_files_only_raise_mindir_error(tmp_path: Path) -> None:
    """Byte flips anywhere in a real file: either it still loads or MindIRError -- nothing else."""
    data = bytearray((CASES / "branchy_if" / "model.mindir").read_bytes())
    rng = random.Random(1234)
    path = tmp_path / "f.mindir"
    for _ in range(150):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
        path.write_bytes(bytes(mutated))
        try:
            load(path)
        except MindIRError:
            pass


# ---- split layout: <prefix>_graph.mindir + <prefix>_variables/data_N ------------------------------


def _split(tmp_path: Path, case: str, location: str | None = None) -> tuple[Path, pb.ModelProto]:
    """Rewrite a real export into MindSpore's split layout: weights in data_0, 64-byte aligned."""
    m = _proto(case)
    var_dir = tmp_path / "net_variables"
    var_dir.mkdir()
    blob = bytearray()
    for t in m.graph.parameter:
        blob.extend(b"\0" * (-len(blob) % 64))
        offset = len(blob)
        blob.extend(t.raw_data)
        t.ClearField("raw_data")
        t.external_data.location = location or "net_variables/data_0"
        t.external_data.offset = offset
        t.external_data.length = len(blob) - offset
    (var_dir / "data_0").write_bytes(bytes(blob))
    return _write(tmp_path, m, "net_graph.mindir"), m


def test_split_layout_is_memory_mapped(tmp_path: Path) -> None:
    path, _ = _split(tmp_path, "lenet5")
    split = load(path)
    whole = load(CASES / "lenet5" / "model.mindir")
    for name, p in whole.main.params.items():
        q = split.main.params[name]
        np.testing.assert_array_equal(p.data, q.data)
        assert not q.data.flags.owndata and not q.data.flags.writeable  # a view of the mapping


@pytest.mark.parametrize("location", ["../outside/data_0", "/etc/passwd", "net_variables/../../x"])
def test_external_data_cannot_leave_model_folder(tmp_path: Path, location: str) -> None:
    path, _ = _split(tmp_path, "lenet5", location)
    with pytest.raises(MindIRError, match="external_data location"):
        load(path)


def test_external_data_length_mismatch(tmp_path: Path) -> None:
    path, m = _split(tmp_path, "lenet5")
    m.graph.parameter[0].external_data.length += 4
    path.write_bytes(m.SerializeToString())
    with pytest.raises(MindIRError, match="does not fit shape"):
        load(path)


def test_external_data_file_missing(tmp_path: Path) -> None:
    path, _ = _split(tmp_path, "lenet5")
    (tmp_path / "net_variables" / "data_0").unlink()
    with pytest.raises(MindIRError, match="no such external weight file"):
        load(path)


def test_operators_written_on_the_node_1x_style(tmp_path: Path) -> None:
    """MindSpore 1.x puts the operator name in op_type and its attributes on the node itself."""
    m = _proto("lenet5")
    prims = {p.name: p for p in m.primitives}
    for node in m.graph.node:
        if node.op_type.startswith("REF::") and node.op_type[5:] in prims:
            prim = prims[node.op_type[5:]]
            node.op_type = prim.op_type
            node.attribute.extend(prim.attribute)
    del m.primitives[:]
    model = load(_write(tmp_path, m))
    reference = load(CASES / "lenet5" / "model.mindir")
    assert model.primitive_histogram() == reference.primitive_histogram()
    conv = next(n for n in model.main.nodes if n.op == "Conv2D")
    assert conv.attrs["pad_mode"] == "valid" and conv.attrs["kernel_size"] == (5, 5)


def test_scalar_loop_counters_have_specs() -> None:
    ops = CASES.parent / "op" / "cf_while_tensor_trip" / "model.mindir"
    if not ops.exists():
        pytest.skip("op cases not generated")
    model = load(ops)
    specs = [s for g in model.functions.values() for s in g.inputs]
    assert any(s.shape == () and s.dtype == "int64" for s in specs)
    assert all(s.dtype != "object" for s in specs)
