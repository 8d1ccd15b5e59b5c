"""Embedding and the recurrent layers (RNN, LSTM, GRU).

Recurrent layers always run batch-first, as everywhere in the graph: a sample is
(length, features). ``output="last"`` keeps only the last time step (``out[:, -1]``), the usual
input of a sequence classifier's head.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeRuleError
from ..params import Bool, Choice, Float, Inferred, Int
from ..registry import Inference, LayerSpec, TensorType, out, register
from ._util import kw


# ------------------------------------------------------------------ Embedding
def _embedding_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    n, d = p["num_embeddings"], p["embedding_dim"]
    pad = p["padding_idx"]
    if pad is not None and not -n <= pad < n:
        raise ShapeRuleError(f"padding_idx={pad} must be within the {n} embeddings "
                             f"(-{n}..{n - 1})")
    return out(TensorType((*x.shape, d)), n * d, 0)


register(LayerSpec(
    type="Embedding", category="Embedding",
    help="Looks up a learned vector for each integer token index.",
    params=(
        Int("num_embeddings", 1000, "Vocabulary size (indices 0..num_embeddings-1).",
            min=1, max=1 << 24),
        Int("embedding_dim", 32, "Length of each vector.", min=1, max=1 << 16),
        Int("padding_idx", None, "Index whose vector stays zero and gets no gradient (empty: "
            "none).", optional=True, min=-(1 << 24), max=(1 << 24) - 1),
    ),
    infer=_embedding_infer, input_dtype="int", module="Embedding",
    module_args=lambda p: ((p["num_embeddings"], p["embedding_dim"]), kw(p, padding_idx=None)),
    onnx=lambda ctx, name, p, xs, ins: ctx.node("Gather", [ctx.weight(f"{name}.weight"), xs[0]],
                                                {"axis": 0}, hint=name),
    face=("num_embeddings", "embedding_dim"),
))


# ------------------------------------------------------------------ recurrent layers
_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
# PyTorch's gate blocks in ONNX order: LSTM i,f,g,o -> i,o,f,c; GRU r,z,n -> z,r,h.
_ONNX_ORDER = {"RNN": (0,), "LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2)}


def _rnn_infer(kind: str) -> Any:
    gates = _GATES[kind]

    def infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
        (x,) = ins
        length, features = x.shape
        h, dirs = p["hidden_size"], 2 if p["bidirectional"] else 1
        params = flops = 0
        n_in = features
        for _ in range(p["num_layers"]):
            per_dir = gates * h * (n_in + h) + (2 * gates * h if p["bias"] else 0)
            params += dirs * per_dir
            flops += dirs * length * (2 * gates * h * (n_in + h) + 6 * gates * h)
            n_in = dirs * h
        shape = (dirs * h,) if p["output"] == "last" else (length, dirs * h)
        return out(TensorType(shape), params, flops, input_size=features)
    return infer


def _rnn_call(module: Any, xs: list[Any], p: dict[str, Any]) -> Any:
    y = module(xs[0])[0]
    return y[:, -1] if p["output"] == "last" else y


def _rnn_torch_call(attr: str, xs: list[str], p: dict[str, Any]) -> str:
    return f"self.{attr}({xs[0]})[0]" + ("[:, -1]" if p["output"] == "last" else "")


def _rnn_onnx(kind: str) -> Any:
    order = _ONNX_ORDER[kind]

    def reorder(a: np.ndarray, h: int) -> np.ndarray:
        return np.concatenate([a[i * h:(i + 1) * h] for i in order], axis=0)

    def emit(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
        h, dirs = p["hidden_size"], 2 if p["bidirectional"] else 1
        suffixes = ("", "_reverse")[:dirs]
        attrs: dict[str, Any] = {"hidden_size": h,
                                 "direction": "bidirectional" if dirs == 2 else "forward"}
        if kind == "GRU":
            attrs["linear_before_reset"] = 1  # PyTorch applies r after the hidden matmul
        if kind == "RNN":
            attrs["activations"] = ["Tanh" if p["nonlinearity"] == "tanh" else "Relu"] * dirs
        seq = ctx.node("Transpose", xs, {"perm": [1, 0, 2]}, hint=name + "_seq_major")
        merge_dirs = ctx.const(np.array([0, 0, -1], np.int64), "merge_dirs")
        for layer in range(p["num_layers"]):
            def stacked(key: str, layer: int = layer) -> np.ndarray:
                return np.stack([reorder(ctx.array(f"{name}.{key}_l{layer}{s}"), h)
                                 for s in suffixes])
            w, r = stacked("weight_ih"), stacked("weight_hh")
            if p["bias"]:
                b = np.concatenate([stacked("bias_ih"), stacked("bias_hh")], axis=1)
            else:
                b = np.zeros((dirs, 2 * _GATES[kind] * h), np.float32)
            y = ctx.node(kind, [seq, ctx.const(w, f"{name}_W{layer}"),
                                ctx.const(r, f"{name}_R{layer}"), ctx.const(b, f"{name}_B{layer}")],
                         attrs, hint=f"{name}_l{layer}")
            # Y is (length, dirs, batch, hidden): bring dirs next to hidden, then merge them.
            y = ctx.node("Transpose", [y], {"perm": [0, 2, 1, 3]})
            seq = ctx.node("Reshape", [y, merge_dirs])
        if p["output"] == "last":
            last = ctx.const(np.array(-1, np.int64), "last_step")
            return ctx.node("Gather", [seq, last], {"axis": 0}, hint=name)
        return ctx.node("Transpose", [seq], {"perm": [1, 0, 2]}, hint=name)
    return emit


def _rnn_params(kind: str) -> tuple:
    extra = (Choice("nonlinearity", "tanh", ("tanh", "relu"), "Activation of the cell."),) \
        if kind == "RNN" else ()
    return (
        Inferred("input_size", "Features per time step (from the incoming tensor)."),
        Int("hidden_size", 64, "Size of the hidden state.", min=1, max=1 << 16),
        Int("num_layers", 1, "Number of stacked recurrent layers.", min=1, max=16),
        *extra,
        Bool("bias", True, "Learn input and hidden biases."),
        Float("dropout", 0.0, "Dropout between stacked layers during training.",
              min=0.0, max=1.0),
        Bool("bidirectional", False, "Also run the sequence backwards and concatenate."),
        Choice("output", "sequence", ("sequence", "last"),
               "sequence: every time step (length, hidden); last: only the last step (hidden), "
               "for a classifier head."),
    )


def _rnn_module_args(kind: str) -> Any:
    def args(p: dict[str, Any]) -> tuple[tuple, dict]:
        extra = kw(p, nonlinearity="tanh") if kind == "RNN" else {}
        return ((p["input_size"], p["hidden_size"]),
                {**kw(p, num_layers=1), **extra, **kw(p, bias=True), "batch_first": True,
                 **kw(p, dropout=0.0, bidirectional=False)})
    return args


_HELP = {
    "RNN": "Elman recurrent layer: h_t = act(W x_t + U h_(t-1) + b).",
    "LSTM": "Long short-term memory: a gated recurrent layer that keeps long-range information.",
    "GRU": "Gated recurrent unit: a lighter gated recurrent layer.",
}

for _kind in ("RNN", "LSTM", "GRU"):
    register(LayerSpec(
        type=_kind, category="Recurrent", help=_HELP[_kind] + " Input: (length, features).",
        params=_rnn_params(_kind), infer=_rnn_infer(_kind), input_ranks=(2,), module=_kind,
        module_args=_rnn_module_args(_kind), call=_rnn_call, torch_call=_rnn_torch_call,
        onnx=_rnn_onnx(_kind), face=("hidden_size", "output"),
    ))
