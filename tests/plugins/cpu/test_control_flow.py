"""Control flow: while loops exported as recursive graphs run without Python recursion; refusals."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from mindinfer.backend import Device
from mindinfer.errors import UnsupportedOpError
from mindinfer.ir import Const, Graph, GraphRef, Model, Node, Ref, TensorSpec
from mindinfer_cpu import CpuBackend

F32 = "float32"


def _spec(name: str, shape: tuple[int, ...] = (2,), dtype: str = F32) -> TensorSpec:
    return TensorSpec(name, shape, dtype)


def _while_model(trips: int) -> Model:
    """`i = 0; while i < trips: x = x + 1; i += 1` in MindSpore's exported form (header/body/exit graphs)."""
    main = Graph(
        "main",
        [_spec("x")],
        [Ref("r")],
        [Node("call0", "Call", [Const(GraphRef("header")), Const(0), Ref("x")], ["r"], {}, [_spec("r")])],
        output_specs=[_spec("r")],
    )
    header = Graph(
        "header",
        [TensorSpec("i", None, "int64"), _spec("hx")],
        [Ref("hr")],
        [
            Node("lt", "ScalarLt", [Ref("i"), Const(trips)], ["c"], {}, [None]),
            Node("pb", "Partial", [Const(GraphRef("body")), Ref("i"), Ref("hx")], ["cb"], {}, [None]),
            Node("pe", "Partial", [Const(GraphRef("exit")), Ref("hx")], ["ce"], {}, [None]),
            Node("sw", "Switch", [Ref("c"), Ref("cb"), Ref("ce")], ["f"], {}, [None]),
            Node("call", "Call", [Ref("f")], ["hr"], {}, [_spec("hr")]),
        ],
    )
    body = Graph(
        "body",
        [TensorSpec("bi", None, "int64"), _spec("bx")],
        [Ref("br")],
        [
            Node("inc", "ScalarAdd", [Ref("bi"), Const(1)], ["i2"], {}, [None]),
            Node("add", "Add", [Ref("bx"), Const(np.ones(2, np.float32))], ["x2"], {}, [_spec("x2")]),
            Node("rec", "Call", [Const(GraphRef("header")), Ref("i2"), Ref("x2")], ["br"], {}, [_spec("br")]),
        ],
    )
    exit_ = Graph("exit", [_spec("ex")], [Ref("ex")], [])
    return Model(main, {"header": header, "body": body, "exit": exit_})


def test_long_while_loop_needs_no_recursion(backend: CpuBackend, device: Device) -> None:
    trips = 3 * sys.getrecursionlimit()
    exe = backend.compile(_while_model(trips), device, {})
    out = exe.run([np.zeros(2, np.float32)])[0]
    # Adding 1.0 `trips` times to 0.0 is exact in float32 for these counts.
    np.testing.assert_array_equal(out, np.full(2, trips, np.float32))


def test_in_place_update_of_a_value_read_later_is_refused(backend: CpuBackend, device: Device) -> None:
    x = _spec("x")
    nodes = [
        Node("upd", "InplaceAddExt", [Ref("x2"), Ref("x"), Const(1)], ["y"], {}, [_spec("y")]),
        Node("use", "Mul", [Ref("x2"), Ref("y")], ["z"], {}, [_spec("z")]),
    ]
    nodes.insert(0, Node("dbl", "Add", [Ref("x"), Ref("x")], ["x2"], {}, [_spec("x2")]))
    model = Model(Graph("main", [x], [Ref("z")], nodes, output_specs=[_spec("z")]))
    with pytest.raises(UnsupportedOpError, match="in place"):
        backend.compile(model, device, {})


def test_reading_an_output_the_kernel_does_not_compute_is_refused(backend: CpuBackend, device: Device) -> None:
    x = TensorSpec("x", (1, 1, 1, 4, 4), F32)
    attrs = {"ksize": (1, 2, 2), "strides": (1, 2, 2), "pads": (0, 0, 0), "ceil_mode": False, "dilation": (1, 1, 1)}
    node = Node("mp", "MaxPool3DWithArgmax", [Ref("x")], ["v", "idx"], attrs, [None, None])
    model = Model(Graph("main", [x], [Ref("idx")], [node], output_specs=[TensorSpec("idx", (1, 1, 1, 2, 2), "int64")]))
    with pytest.raises(UnsupportedOpError, match="output 1"):
        backend.compile(model, device, {})
