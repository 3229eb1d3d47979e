"""Recurrent primitives: the LSTM primitive nn.LSTM exports on CPU (one layer, one direction per node).

nn.GRU and nn.RNN export as unrolled MatMul/Sigmoid/Tanh graphs, which need no kernel of their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mindinfer.ir import Node

from ..registry import Arg, Kernel, kernel, param, unsupported
from ._util import as_array


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@kernel("LSTM")
def build_lstm(node: Node, args: list[Arg]) -> Kernel:
    """LSTM(x[T,B,I], h0, c0, w) -> (y, h_n, c_n); w = [W_ih, W_hh, b] flattened, gates i, f, g, o."""
    layers, bidirectional, proj = (param(node, args, n) for n in ("num_layers", "bidirectional", "proj_size"))
    if int(layers) != 1 or bool(bidirectional) or int(proj or 0):
        raise unsupported(node, "num_layers > 1, bidirectional or proj_size in one LSTM node")
    hidden, inp = int(param(node, args, "hidden_size")), int(param(node, args, "input_size"))
    has_bias = bool(param(node, args, "has_bias"))
    g4 = 4 * hidden

    def split(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        flat = w.reshape(-1).astype(np.float32)
        n_ih, n_hh = g4 * inp, g4 * hidden
        w_ih = flat[:n_ih].reshape(g4, inp)
        w_hh = flat[n_ih : n_ih + n_hh].reshape(g4, hidden)
        rest = flat[n_ih + n_hh :]
        if has_bias and rest.size == 2 * g4:
            b = rest[:g4] + rest[g4:]
        elif has_bias and rest.size == g4:
            b = rest
        elif not has_bias and rest.size == 0:
            b = np.zeros(g4, np.float32)
        else:
            raise unsupported(node, f"weight of {flat.size} values does not match input_size/hidden_size")
        return np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T), b

    pre = split(as_array(args[3].value)) if len(args) > 3 and args[3].known else None

    def run(x: Any, h0: Any, c0: Any, w: Any, *_: Any) -> tuple[Any, ...]:
        w_ih, w_hh, b = pre if pre is not None else split(as_array(w))
        x = as_array(x)
        t_len = x.shape[0]
        h = as_array(h0)[0].astype(np.float32)
        c = as_array(c0)[0].astype(np.float32)
        xw = np.matmul(x, w_ih) + b  # all time steps' input projections in one GEMM
        ys = np.empty((t_len,) + h.shape, np.float32)
        for t in range(t_len):
            gates = xw[t] + h @ w_hh
            i = _sigmoid(gates[:, :hidden])
            f = _sigmoid(gates[:, hidden : 2 * hidden])
            g = np.tanh(gates[:, 2 * hidden : 3 * hidden])
            o = _sigmoid(gates[:, 3 * hidden :])
            c = f * c + i * g
            h = o * np.tanh(c)
            ys[t] = h
        return ys.astype(x.dtype, copy=False), h[None].astype(x.dtype), c[None].astype(x.dtype), None, None

    run.missing_outputs = (3, 4)  # type: ignore[attr-defined]  # workspace outputs; refused if read
    return run
