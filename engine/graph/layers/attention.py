"""Attention layers for the editor: self-attention (``MultiheadAttention``) and the Transformer
encoder block (``TransformerEncoderLayer``), batch-first over sequences (length, features), with
their ONNX forms written out of MatMul/Softmax/LayerNormalization (opset 17)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ShapeRuleError
from ..params import Bool, Choice, Float, Inferred, Int
from ..registry import Inference, LayerSpec, TensorType, out, register
from ._util import kw
from .core import _gelu_onnx


def _check_heads(x: TensorType, heads: int) -> tuple[int, int]:
    length, e = x.shape
    if e % heads:
        raise ShapeRuleError(f"the {e} features of {x} must divide into num_heads={heads} "
                             f"heads; use a num_heads that divides {e}")
    return length, e


def _mha_counts(length: int, e: int, bias: bool) -> tuple[int, int]:
    params = 4 * e * e + (4 * e if bias else 0)
    flops = 2 * length * 4 * e * e + 4 * length * length * e
    return params, flops


# ------------------------------------------------------------------ ONNX pieces
def _dense(ctx: Any, x: str, w: np.ndarray, b: np.ndarray | None, hint: str,
           out_hint: str | None = None) -> str:
    """x @ w.T (+ b); ``hint`` names the constants, ``out_hint`` (if given) the result."""
    y = ctx.node("MatMul", [x, ctx.const(np.ascontiguousarray(w.T), hint + "_wt")],
                 hint=out_hint if b is None else None)
    return ctx.node("Add", [y, ctx.const(b, hint + "_b")], hint=out_hint) if b is not None else y


def _heads(ctx: Any, x: str, heads: int, hd: int, perm: list[int], hint: str) -> str:
    shape = ctx.const(np.array([0, 0, heads, hd], np.int64), hint + "_split")
    return ctx.node("Transpose", [ctx.node("Reshape", [x, shape])], {"perm": perm})


def mha_onnx(ctx: Any, prefix: str, x: str, e: int, heads: int, bias: bool,
             hint: str | None = None) -> str:
    """Self-attention of ``x`` (N, L, E) with the weights under ``prefix`` (PyTorch's names)."""
    w = ctx.array(f"{prefix}.in_proj_weight")
    b = ctx.array(f"{prefix}.in_proj_bias") if bias else None
    hd = e // heads
    q, k, v = (_dense(ctx, x, w[i * e:(i + 1) * e], None if b is None else b[i * e:(i + 1) * e],
                      f"{prefix}_{n}") for i, n in enumerate("qkv"))
    q = _heads(ctx, q, heads, hd, [0, 2, 1, 3], prefix + "_q")
    k = _heads(ctx, k, heads, hd, [0, 2, 3, 1], prefix + "_k")
    v = _heads(ctx, v, heads, hd, [0, 2, 1, 3], prefix + "_v")
    scores = ctx.node("Mul", [ctx.node("MatMul", [q, k]),
                              ctx.const(np.array(1 / math.sqrt(hd), np.float32), "scale")])
    attn = ctx.node("MatMul", [ctx.node("Softmax", [scores], {"axis": -1}), v])
    merged = ctx.node("Reshape", [ctx.node("Transpose", [attn], {"perm": [0, 2, 1, 3]}),
                                  ctx.const(np.array([0, 0, e], np.int64), "merge_heads")])
    wo = ctx.array(f"{prefix}.out_proj.weight")
    bo = ctx.array(f"{prefix}.out_proj.bias") if bias else None
    return _dense(ctx, merged, wo, bo, prefix + "_o", out_hint=hint)


# ------------------------------------------------------------------ MultiheadAttention
def _mha_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    length, e = _check_heads(x, p["num_heads"])
    params, flops = _mha_counts(length, e, p["bias"])
    return out(x, params, flops, embed_dim=e)


register(LayerSpec(
    type="MultiheadAttention", category="Attention",
    help="Self-attention: every position of the sequence (length, features) attends to every "
         "other, over num_heads heads.",
    params=(
        Inferred("embed_dim", "Features per position (from the incoming tensor)."),
        Int("num_heads", 4, "Attention heads (must divide the features).", min=1, max=1024),
        Float("dropout", 0.0, "Dropout on the attention weights during training.",
              min=0.0, max=1.0),
        Bool("bias", True, "Biases in the projections."),
    ),
    infer=_mha_infer, input_ranks=(2,), module="MultiheadAttention",
    module_args=lambda p: ((p["embed_dim"], p["num_heads"]),
                           {**kw(p, dropout=0.0, bias=True), "batch_first": True}),
    call=lambda module, xs, p: module(xs[0], xs[0], xs[0], need_weights=False)[0],
    torch_call=lambda attr, xs, p: (f"self.{attr}({xs[0]}, {xs[0]}, {xs[0]}, "
                                    f"need_weights=False)[0]"),
    onnx=lambda ctx, name, p, xs, ins: mha_onnx(ctx, name, xs[0], p["embed_dim"],
                                                p["num_heads"], p["bias"], hint=name),
    face=("num_heads",),
))


# ------------------------------------------------------------------ TransformerEncoderLayer
def _encoder_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    length, e = _check_heads(x, p["nhead"])
    f = p["dim_feedforward"]
    params, flops = _mha_counts(length, e, True)
    params += 2 * e * f + f + e + 4 * e
    flops += 4 * length * e * f + 10 * length * e
    return out(x, params, flops, d_model=e)


def _encoder_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    e, eps = p["d_model"], p["layer_norm_eps"]

    def norm(x: str, i: int, hint: str | None = None) -> str:
        return ctx.node("LayerNormalization", [x, ctx.weight(f"{name}.norm{i}.weight"),
                                               ctx.weight(f"{name}.norm{i}.bias")],
                        {"axis": -1, "epsilon": eps}, hint=hint)

    def attend(x: str) -> str:
        return mha_onnx(ctx, f"{name}.self_attn", x, e, p["nhead"], True)

    def feed_forward(x: str) -> str:
        h = _dense(ctx, x, ctx.array(f"{name}.linear1.weight"),
                   ctx.array(f"{name}.linear1.bias"), name + "_ff1")
        h = ctx.node("Relu", [h]) if p["activation"] == "relu" else _gelu_onnx(
            ctx, name + "_gelu", {"approximate": "none"}, [h], None)
        return _dense(ctx, h, ctx.array(f"{name}.linear2.weight"),
                      ctx.array(f"{name}.linear2.bias"), name + "_ff2")

    x = xs[0]
    if p["norm_first"]:
        x = ctx.node("Add", [x, attend(norm(x, 1))])
        return ctx.node("Add", [x, feed_forward(norm(x, 2))], hint=name)
    x = norm(ctx.node("Add", [x, attend(x)]), 1)
    return norm(ctx.node("Add", [x, feed_forward(x)]), 2, hint=name)


register(LayerSpec(
    type="TransformerEncoderLayer", category="Attention",
    help="A Transformer encoder block on a sequence (length, features): self-attention and a "
         "feed-forward network, each with a residual connection and LayerNorm.",
    params=(
        Inferred("d_model", "Features per position (from the incoming tensor)."),
        Int("nhead", 4, "Attention heads (must divide the features).", min=1, max=1024),
        Int("dim_feedforward", 128, "Width of the feed-forward network.", min=1, max=1 << 16),
        Float("dropout", 0.1, "Dropout in the block during training.", min=0.0, max=1.0),
        Choice("activation", "relu", ("relu", "gelu"), "Feed-forward activation."),
        Bool("norm_first", False, "LayerNorm before each sub-block (pre-norm) instead of after."),
        Float("layer_norm_eps", 1e-5, "Added to the variance in the LayerNorms.", min=0.0,
              max=1.0, min_exclusive=True),
    ),
    infer=_encoder_infer, input_ranks=(2,), module="TransformerEncoderLayer",
    module_args=lambda p: ((p["d_model"], p["nhead"]),
                           {"dim_feedforward": p["dim_feedforward"],
                            **kw(p, dropout=0.1, activation="relu", layer_norm_eps=1e-5),
                            "batch_first": True, **kw(p, norm_first=False)}),
    onnx=_encoder_onnx, face=("nhead", "dim_feedforward"),
))
