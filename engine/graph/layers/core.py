"""Input, Output, Linear, shape layers, Dropout and the activations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ShapeRuleError
from ..params import Bool, Choice, Float, Inferred, Int, Ints
from ..registry import Inference, LayerSpec, TensorType, out, register
from ._util import full_dim, kw, onnx_reshape

LOSSES = ("cross_entropy", "nll", "mse", "l1", "bce_with_logits", "bce", "none")


# ------------------------------------------------------------------ Input / Output
def _input_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    return out(TensorType(tuple(p["shape"]), p["dtype"]))


register(LayerSpec(
    type="Input", category="Input/Output",
    help="Where a batch enters the model. Its shape follows the dataset (batch dim excluded).",
    params=(
        Ints("shape", (1, 28, 28), "Shape of one sample, without the batch dimension.", min=1),
        Choice("dtype", "float32", ("float32", "int64"),
               "float32 for images and features; int64 for token indices (into an Embedding)."),
    ),
    infer=_input_infer, inputs=0, face=("shape",),
))


def _output_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    return Inference((), {})


register(LayerSpec(
    type="Output", category="Input/Output",
    help="A model output and the loss that trains it against the dataset's labels.",
    params=(
        Choice("loss", "cross_entropy", LOSSES,
               "cross_entropy: class scores vs class indices; nll: log-probabilities (after "
               "LogSoftmax); mse / l1: regression; bce_with_logits: binary scores; bce: "
               "probabilities (after Sigmoid); none: an output that is not trained."),
    ),
    infer=_output_infer, outputs=0, input_dtype="any", face=("loss",),
))


# ------------------------------------------------------------------ Linear
def _linear_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    n_in, n_out = x.shape[-1], p["out_features"]
    rows = x.numel // n_in
    params = n_in * n_out + (n_out if p["bias"] else 0)
    return out(TensorType((*x.shape[:-1], n_out)), params, 2 * rows * n_in * n_out,
               in_features=n_in)


def _linear_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str],
                 ins: tuple[TensorType, ...]) -> str:
    bias = [ctx.weight(f"{name}.bias")] if p["bias"] else []
    if len(ins[0].shape) == 1:
        return ctx.node("Gemm", [xs[0], ctx.weight(f"{name}.weight"), *bias], {"transB": 1},
                        hint=name)
    wt = ctx.const(np.ascontiguousarray(ctx.array(f"{name}.weight").T), f"{name}.weight_t")
    y = ctx.node("MatMul", [xs[0], wt], hint=name + "_mm")
    return ctx.node("Add", [y, bias[0]], hint=name) if bias else y


register(LayerSpec(
    type="Linear", category="Core",
    help="Fully connected layer y = x W^T + b over the last dimension.",
    params=(
        Inferred("in_features", "Size of the last input dimension (from the incoming tensor)."),
        Int("out_features", 10, "Number of output features.", min=1, max=1 << 20),
        Bool("bias", True, "Learn an additive bias."),
    ),
    infer=_linear_infer, module="Linear",
    module_args=lambda p: ((p["in_features"], p["out_features"]), kw(p, bias=True)),
    onnx=_linear_onnx, face=("out_features",),
))


# ------------------------------------------------------------------ shape layers
def _flatten_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    start = full_dim(p["start_dim"], x, "start_dim")
    end = full_dim(p["end_dim"], x, "end_dim")
    if end < start:
        raise ShapeRuleError(f"end_dim={p['end_dim']} comes before start_dim={p['start_dim']} "
                             f"for input {x}")
    s = x.shape
    merged = math.prod(s[start - 1:end])
    shape = (*s[:start - 1], merged, *s[end:])
    return out(TensorType(shape, x.dtype), _out_shape=shape)


register(LayerSpec(
    type="Flatten", category="Shape",
    help="Merges dimensions start_dim..end_dim into one (keeps the batch dimension).",
    params=(
        Int("start_dim", 1, "First dimension to merge (1 = first after the batch).",
            min=-8, max=8),
        Int("end_dim", -1, "Last dimension to merge (-1 = the last).", min=-8, max=8),
    ),
    infer=_flatten_infer, input_dtype="any", module="Flatten",
    module_args=lambda p: ((), kw(p, start_dim=1, end_dim=-1)),
    onnx=lambda ctx, name, p, xs, ins: onnx_reshape(ctx, xs[0], p["_out_shape"], name),
))


def _reshape_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    target = list(p["shape"])
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if x.numel % known:
            raise ShapeRuleError(f"cannot reshape {x} ({x.numel} values per sample) to "
                                 f"{tuple(target)}: {x.numel} is not a multiple of {known}")
        target[target.index(-1)] = x.numel // known
    elif known != x.numel:
        raise ShapeRuleError(f"cannot reshape {x} ({x.numel} values per sample) to "
                             f"{tuple(target)} ({known} values)")
    return out(TensorType(tuple(target), x.dtype), _out_shape=tuple(target))


def _reshape_call(module: Any, xs: list[Any], p: dict[str, Any]) -> Any:
    return xs[0].reshape(xs[0].shape[0], *p["_out_shape"])


register(LayerSpec(
    type="Reshape", category="Shape",
    help="Gives each sample a new shape with the same number of values (batch kept).",
    params=(Ints("shape", (-1,), "New per-sample shape; one entry may be -1.",
                 min=1, allow_minus_one=True),),
    infer=_reshape_infer, input_dtype="any", call=_reshape_call,
    torch_call=lambda attr, xs, p: (
        f"{xs[0]}.reshape({xs[0]}.shape[0], {', '.join(map(str, p['_out_shape']))})"),
    onnx=lambda ctx, name, p, xs, ins: onnx_reshape(ctx, xs[0], p["_out_shape"], name),
    face=("shape",),
))


# ------------------------------------------------------------------ Dropout
def _same(p: dict[str, Any], ins: tuple[TensorType, ...], flops_per_value: int = 0) -> Inference:
    x = ins[0]
    return out(x, 0, flops_per_value * x.numel)


register(LayerSpec(
    type="Dropout", category="Regularization",
    help="Zeroes each value with probability p during training (scaling the rest by 1/(1-p)); "
         "does nothing in evaluation.",
    params=(Float("p", 0.5, "Probability of zeroing a value.", min=0.0, max=1.0),),
    infer=_same, module="Dropout", module_args=lambda p: ((), kw(p, p=0.5)),
    onnx=lambda ctx, name, p, xs, ins: ctx.node("Identity", xs, hint=name), face=("p",),
))


# ------------------------------------------------------------------ activations
def _activation(type_: str, help_: str, onnx: Any, params: tuple = (), flops: int = 1,
                module_args: Any = None, infer: Any = None) -> None:
    register(LayerSpec(
        type=type_, category="Activation", help=help_, params=params,
        infer=infer or (lambda p, ins: _same(p, ins, flops)), module=type_,
        module_args=module_args or (lambda p: ((), {})), onnx=onnx,
        face=tuple(q.name for q in params),
    ))


def _op(op: str, **attrs: Any) -> Any:
    def emit(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
        values = {k: (p[v] if isinstance(v, str) else v) for k, v in attrs.items()}
        return ctx.node(op, xs, values, hint=name)
    return emit


def _gelu_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    x = xs[0]
    half = ctx.const(np.float32(0.5), "half")
    one = ctx.const(np.float32(1.0), "one")
    if p["approximate"] == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = ctx.node("Mul", [ctx.node("Mul", [x, x], hint=name + "_sq"), x], hint=name + "_cb")
        inner = ctx.node("Add", [x, ctx.node("Mul", [cube, ctx.const(np.float32(0.044715),
                                                                       "gelu_c")])])
        scaled = ctx.node("Mul", [inner, ctx.const(np.float32(math.sqrt(2 / math.pi)),
                                                   "gelu_k")])
        t = ctx.node("Tanh", [scaled])
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        t = ctx.node("Erf", [ctx.node("Div", [x, ctx.const(np.float32(math.sqrt(2.0)),
                                                            "sqrt2")])])
    return ctx.node("Mul", [ctx.node("Mul", [x, half]), ctx.node("Add", [t, one])], hint=name)


def _silu_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    return ctx.node("Mul", [xs[0], ctx.node("Sigmoid", xs)], hint=name)


_activation("ReLU", "max(0, x).", _op("Relu"))
_activation("LeakyReLU", "x for x >= 0, negative_slope * x below.", _op("LeakyRelu",
            alpha="negative_slope"),
            (Float("negative_slope", 0.01, "Slope for negative inputs.", min=0.0, max=1.0),),
            module_args=lambda p: ((), kw(p, negative_slope=0.01)))
_activation("ELU", "x for x > 0, alpha * (exp(x) - 1) below.", _op("Elu", alpha="alpha"),
            (Float("alpha", 1.0, "Scale of the negative part.", min=0.0, max=100.0),),
            flops=3, module_args=lambda p: ((), kw(p, alpha=1.0)))
_activation("GELU", "x * Phi(x) (Gaussian error linear unit), as in transformers.", _gelu_onnx,
            (Choice("approximate", "none", ("none", "tanh"), "Exact (erf) or tanh formula."),),
            flops=8, module_args=lambda p: ((), kw(p, approximate="none")))
_activation("SiLU", "x * sigmoid(x) (swish).", _silu_onnx, flops=4)
_activation("Sigmoid", "1 / (1 + exp(-x)); squashes to (0, 1).", _op("Sigmoid"), flops=3)
_activation("Tanh", "Hyperbolic tangent; squashes to (-1, 1).", _op("Tanh"), flops=3)


def _softmax_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    full_dim(p["dim"], ins[0], "dim")
    return _same(p, ins, 4)


for _name, _op_name, _what in (("Softmax", "Softmax", "probabilities that sum to 1"),
                               ("LogSoftmax", "LogSoftmax", "log-probabilities")):
    register(LayerSpec(
        type=_name, category="Activation",
        help=f"Turns scores along dim into {_what}.",
        params=(Int("dim", 1, "Dimension to normalise over (1 = first after the batch).",
                    min=-8, max=8),),
        infer=_softmax_infer, module=_name, module_args=lambda p: ((), {"dim": p["dim"]}),
        onnx=_op(_op_name, axis="dim"), face=("dim",),
    ))
