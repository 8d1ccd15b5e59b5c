"""More editor layers: the activations PyTorch programs use beyond the classic ones (Softplus,
Hardtanh, ReLU6, Mish, Hardswish, SELU, LogSigmoid, PReLU), InstanceNorm, the 2-D padding layers
and PixelShuffle, each with its ONNX form (opset 17)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeRuleError
from ..params import Bool, Float, Inferred, Int, Ints
from ..registry import Inference, LayerSpec, TensorType, out, register
from ._util import kw
from .core import _activation as _act
from .core import _op


def _f(value: float) -> np.ndarray:
    return np.array(value, np.float32)


# ------------------------------------------------------------------ activations
def _softplus_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    beta = p["beta"]
    if beta == 1.0:
        return ctx.node("Softplus", xs, hint=name)
    scaled = ctx.node("Mul", [xs[0], ctx.const(_f(beta), "beta")])
    return ctx.node("Div", [ctx.node("Softplus", [scaled]), ctx.const(_f(beta), "beta")],
                    hint=name)


def _clip(lo: Any, hi: Any) -> Any:
    def emit(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
        low = p[lo] if isinstance(lo, str) else lo
        high = p[hi] if isinstance(hi, str) else hi
        return ctx.node("Clip", [xs[0], ctx.const(_f(low), "lo"), ctx.const(_f(high), "hi")],
                        hint=name)
    return emit


def _mish_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    return ctx.node("Mul", [xs[0], ctx.node("Tanh", [ctx.node("Softplus", xs)])], hint=name)


def _logsigmoid_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    return ctx.node("Neg", [ctx.node("Softplus", [ctx.node("Neg", xs)])], hint=name)


def _prelu_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    w = ctx.array(f"{name}.weight")
    rank = len(ins[0].shape)
    if w.size > 1:  # one slope per channel (dim 1): broadcast over the dims after it
        w = w.reshape((w.size,) + (1,) * (rank - 1))
    return ctx.node("PRelu", [xs[0], ctx.const(w.astype(np.float32), f"{name}.weight")],
                    hint=name)


def _prelu_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    n = p["num_parameters"]
    if n != 1 and n != x.shape[0]:
        raise ShapeRuleError(f"num_parameters={n} must be 1 or the {x.shape[0]} channels "
                             f"(dim 1) of {x}")
    return out(x, n, 2 * x.numel)


_act("Softplus", "log(1 + exp(beta x)) / beta: a smooth ReLU.", _softplus_onnx,
     (Float("beta", 1.0, "Sharpness.", min=0.0, max=100.0, min_exclusive=True),),
     flops=4, module_args=lambda p: ((), kw(p, beta=1.0)))
_act("Hardtanh", "x clamped to [min_val, max_val].", _clip("min_val", "max_val"),
     (Float("min_val", -1.0, "Lower bound.", min=-1e6, max=1e6),
      Float("max_val", 1.0, "Upper bound.", min=-1e6, max=1e6)),
     module_args=lambda p: ((), kw(p, min_val=-1.0, max_val=1.0)))
_act("ReLU6", "min(max(0, x), 6) (mobile networks).", _clip(0.0, 6.0))
_act("Mish", "x * tanh(softplus(x)).", _mish_onnx, flops=6)
_act("Hardswish", "x * relu6(x + 3) / 6 (MobileNetV3).", _op("HardSwish"), flops=4)
_act("SELU", "Scaled ELU with the self-normalising constants.", _op("Selu"), flops=3)
_act("LogSigmoid", "log(sigmoid(x)), computed stably.", _logsigmoid_onnx, flops=4)
_act("PReLU", "x for x >= 0, a learned slope times x below (one slope, or one per channel).",
     _prelu_onnx, (Int("num_parameters", 1, "1, or the number of channels (dim 1).",
                       min=1, max=1 << 16),),
     module_args=lambda p: ((), kw(p, num_parameters=1)), infer=_prelu_infer)


# ------------------------------------------------------------------ InstanceNorm
def _in_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    c = x.shape[0]
    return out(x, 2 * c if p["affine"] else 0, 5 * x.numel, num_features=c)


def _in_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    from .vision import _affine_or_const  # a top-level import would change the registration order

    c = p["num_features"]
    scale = _affine_or_const(ctx, name, p, "weight", c, 1.0)
    bias = _affine_or_const(ctx, name, p, "bias", c, 0.0)
    return ctx.node("InstanceNormalization", [xs[0], scale, bias], {"epsilon": p["eps"]},
                    hint=name)


for _name, _ranks, _what in (("InstanceNorm1d", (2,), "(channels, length)"),
                             ("InstanceNorm2d", (3,), "(channels, height, width)")):
    register(LayerSpec(
        type=_name, category="Normalization",
        help=f"Normalises each channel of each sample {_what} over its own positions (style "
             "transfer, small batches).",
        params=(
            Inferred("num_features", "Channels of the incoming tensor (dim 1)."),
            Float("eps", 1e-5, "Added to the variance for stability.", min=0.0, max=1.0,
                  min_exclusive=True),
            Bool("affine", False, "Learn a scale and a shift per channel."),
        ),
        infer=_in_infer, input_ranks=_ranks, module=_name,
        module_args=lambda p: ((p["num_features"],), kw(p, eps=1e-5, affine=False)),
        onnx=_in_onnx,
    ))


# ------------------------------------------------------------------ padding
def _pad_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    left, right, top, bottom = p["padding"]
    c, h, w = x.shape
    if p.get("_mode") == "reflect" and (max(left, right) >= w or max(top, bottom) >= h):
        raise ShapeRuleError(f"padding {tuple(p['padding'])} must be smaller than the input's "
                             f"size {(h, w)} in reflect mode")
    return out(TensorType((c, h + top + bottom, w + left + right), x.dtype))


def _pad_onnx(mode: str) -> Any:
    def emit(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
        left, right, top, bottom = p["padding"]
        pads = np.array([0, 0, top, left, 0, 0, bottom, right], np.int64)
        inputs = [xs[0], ctx.const(pads, name + "_pads")]
        if mode == "constant":
            inputs.append(ctx.const(_f(p.get("value", 0.0)), name + "_value"))
        return ctx.node("Pad", inputs, {"mode": mode}, hint=name)
    return emit


_PADDING = Ints("padding", (1, 1, 1, 1), "Padding (left, right, top, bottom).", min=0)
_PADS = (("ZeroPad2d", "constant", "zeros"), ("ConstantPad2d", "constant", "a constant value"),
         ("ReflectionPad2d", "reflect", "the input mirrored at its edges"),
         ("ReplicationPad2d", "edge", "copies of the edge values"))
for _name, _mode, _what in _PADS:
    _params: tuple = (_PADDING,)
    if _name == "ConstantPad2d":
        _params += (Float("value", 0.0, "The padding value.", min=-1e9, max=1e9),)
    register(LayerSpec(
        type=_name, category="Shape",
        help=f"Pads each image's borders with {_what}.",
        params=_params, input_ranks=(3,), input_dtype="float",
        infer=lambda p, ins, m=_mode: _pad_infer({**p, "_mode": m}, ins), module=_name,
        module_args=(lambda p: ((tuple(p["padding"]), p["value"]), {})) if _name ==
        "ConstantPad2d" else (lambda p: ((tuple(p["padding"]),), {})),
        onnx=_pad_onnx(_mode), face=("padding",),
    ))


# ------------------------------------------------------------------ PixelShuffle
def _shuffle_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    r = p["upscale_factor"]
    c, h, w = x.shape
    if c % (r * r):
        raise ShapeRuleError(f"PixelShuffle needs channels divisible by upscale_factor^2 = "
                             f"{r * r}, but {x} has {c}")
    return out(TensorType((c // (r * r), h * r, w * r)))


register(LayerSpec(
    type="PixelShuffle", category="Convolution",
    help="Rearranges (C r^2, H, W) into (C, H r, W r): upsampling after a convolution "
         "(sub-pixel convolution).",
    params=(Int("upscale_factor", 2, "The factor r.", min=1, max=16),),
    infer=_shuffle_infer, input_ranks=(3,), module="PixelShuffle",
    module_args=lambda p: ((p["upscale_factor"],), {}),
    onnx=lambda ctx, name, p, xs, ins: ctx.node("DepthToSpace", xs,
                                                {"blocksize": p["upscale_factor"],
                                                 "mode": "CRD"}, hint=name),
    face=("upscale_factor",),
))
