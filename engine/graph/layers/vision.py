"""Convolutions, pooling, normalisation and the other image layers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ExportError, ShapeRuleError
from ..params import Bool, Choice, Float, Inferred, Int, Ints, ParamSpec, expand
from ..registry import Inference, LayerSpec, TensorType, out, register
from ._util import conv_out, kw, onnx_reshape

_AXES = {1: "length", 2: "height, width"}


def _size_words(sizes: tuple[int, ...]) -> str:
    return "x".join(map(str, sizes))


def _conv_params(nd: int, default_kernel: int) -> tuple[ParamSpec, ...]:
    n = nd
    return (
        Inferred("in_channels", "Channels of the incoming tensor (dim 1)."),
        Int("out_channels", 16, "Number of filters (output channels).", min=1, max=65536),
        Ints("kernel_size", default_kernel, "Filter size.", min=1, max=1024, length=n),
        Ints("stride", 1, "Step between filter positions.", min=1, max=1024, length=n),
        Ints("padding", 0, 'Zeros added on each side; "same" keeps the size (stride 1 only), '
             '"valid" adds none.', min=0, max=1024, length=n, choices=("same", "valid")),
        Ints("dilation", 1, "Spacing between filter taps.", min=1, max=1024, length=n),
        Int("groups", 1, "Split channels into groups convolved separately (depthwise: groups "
            "= in_channels).", min=1, max=65536),
        Bool("bias", True, "Learn one additive bias per output channel."),
    )


def _pads(p: dict[str, Any], nd: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Padding before and after each spatial axis (PyTorch's "same" puts the odd one after)."""
    k, d = expand(p["kernel_size"], nd), expand(p["dilation"], nd)
    if p["padding"] == "same":
        total = tuple(di * (ki - 1) for ki, di in zip(k, d))
        before = tuple(t // 2 for t in total)
        return before, tuple(t - b for t, b in zip(total, before))
    pad = (0,) * nd if p["padding"] == "valid" else expand(p["padding"], nd)
    return pad, pad


def _conv_infer(nd: int) -> Any:
    def infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
        (x,) = ins
        c_in, spatial = x.shape[0], x.shape[1:]
        g, c_out = p["groups"], p["out_channels"]
        if c_in % g or c_out % g:
            raise ShapeRuleError(f"groups={g} must divide both in_channels={c_in} (from {x}) "
                                 f"and out_channels={c_out}")
        if p["padding"] == "same" and expand(p["stride"], nd) != (1,) * nd:
            raise ShapeRuleError('padding="same" needs stride 1; set padding to a number')
        k, s, d = (expand(p[n], nd) for n in ("kernel_size", "stride", "dilation"))
        before, after = _pads(p, nd)
        sizes = tuple(conv_out(n + (a - b), ki, si, b, di)
                      for n, ki, si, b, a, di in zip(spatial, k, s, before, after, d))
        if min(sizes) < 1:
            eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
            raise ShapeRuleError(f"kernel {_size_words(eff)} (with dilation) is larger than the "
                                 f"padded input {_size_words(spatial)} of {x}; use a smaller "
                                 "kernel or more padding")
        taps = (c_in // g) * math.prod(k)
        params = c_out * taps + (c_out if p["bias"] else 0)
        flops = 2 * c_out * math.prod(sizes) * taps
        return out(TensorType((c_out, *sizes)), params, flops, in_channels=c_in)
    return infer


def _conv_onnx(nd: int) -> Any:
    def emit(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
        before, after = _pads(p, nd)
        attrs = {"kernel_shape": list(expand(p["kernel_size"], nd)),
                 "strides": list(expand(p["stride"], nd)), "pads": [*before, *after],
                 "dilations": list(expand(p["dilation"], nd)), "group": p["groups"]}
        bias = [ctx.weight(f"{name}.bias")] if p["bias"] else []
        return ctx.node("Conv", [xs[0], ctx.weight(f"{name}.weight"), *bias], attrs, hint=name)
    return emit


def _conv_module_args(p: dict[str, Any]) -> tuple[tuple, dict]:
    return ((p["in_channels"], p["out_channels"]),
            {"kernel_size": p["kernel_size"],
             **kw(p, stride=1, padding=0, dilation=1, groups=1, bias=True)})


for _nd, _kernel in ((1, 3), (2, 3)):
    register(LayerSpec(
        type=f"Conv{_nd}d", category="Convolution",
        help=f"{_nd}-D convolution over ({'channels, ' + _AXES[_nd]}): learns out_channels "
             "filters slid over the input.",
        params=_conv_params(_nd, _kernel), infer=_conv_infer(_nd), input_ranks=(_nd + 1,),
        module=f"Conv{_nd}d", module_args=_conv_module_args, onnx=_conv_onnx(_nd),
        face=("out_channels", "kernel_size"),
    ))


# ------------------------------------------------------------------ ConvTranspose2d
def _convt_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    c_in, spatial = x.shape[0], x.shape[1:]
    g, c_out = p["groups"], p["out_channels"]
    if c_in % g or c_out % g:
        raise ShapeRuleError(f"groups={g} must divide both in_channels={c_in} (from {x}) and "
                             f"out_channels={c_out}")
    k, s, pad, op, d = (expand(p[n], 2) for n in ("kernel_size", "stride", "padding",
                                                   "output_padding", "dilation"))
    for o, si, di in zip(op, s, d):
        if o >= si and o >= di:
            raise ShapeRuleError(f"output_padding={p['output_padding']} must be smaller than "
                                 f"stride={p['stride']} or dilation={p['dilation']}")
    sizes = tuple((n - 1) * si - 2 * pi + di * (ki - 1) + oi + 1
                  for n, ki, si, pi, oi, di in zip(spatial, k, s, pad, op, d))
    if min(sizes) < 1:
        raise ShapeRuleError(f"padding={p['padding']} leaves no output for input {x}")
    taps = (c_out // g) * math.prod(k)
    params = c_in * taps + (c_out if p["bias"] else 0)
    return out(TensorType((c_out, *sizes)), params, 2 * c_in * math.prod(spatial) * taps,
               in_channels=c_in)


def _convt_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    pad = list(expand(p["padding"], 2))
    attrs = {"kernel_shape": list(expand(p["kernel_size"], 2)),
             "strides": list(expand(p["stride"], 2)), "pads": pad + pad,
             "output_padding": list(expand(p["output_padding"], 2)),
             "dilations": list(expand(p["dilation"], 2)), "group": p["groups"]}
    bias = [ctx.weight(f"{name}.bias")] if p["bias"] else []
    return ctx.node("ConvTranspose", [xs[0], ctx.weight(f"{name}.weight"), *bias], attrs,
                    hint=name)


register(LayerSpec(
    type="ConvTranspose2d", category="Convolution",
    help="Transposed 2-D convolution (learned upsampling), the gradient of Conv2d.",
    params=(
        Inferred("in_channels", "Channels of the incoming tensor (dim 1)."),
        Int("out_channels", 16, "Number of output channels.", min=1, max=65536),
        Ints("kernel_size", 2, "Filter size.", min=1, max=1024, length=2),
        Ints("stride", 2, "Upsampling step.", min=1, max=1024, length=2),
        Ints("padding", 0, "Rows/columns removed from each side of the output.",
             min=0, max=1024, length=2),
        Ints("output_padding", 0, "Extra rows/columns added on one side of the output.",
             min=0, max=1024, length=2),
        Ints("dilation", 1, "Spacing between filter taps.", min=1, max=1024, length=2),
        Int("groups", 1, "Split channels into groups.", min=1, max=65536),
        Bool("bias", True, "Learn one additive bias per output channel."),
    ),
    infer=_convt_infer, input_ranks=(3,), module="ConvTranspose2d",
    module_args=lambda p: ((p["in_channels"], p["out_channels"]),
                           {"kernel_size": p["kernel_size"],
                            **kw(p, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                                 dilation=1)}),
    onnx=_convt_onnx, face=("out_channels", "kernel_size", "stride"),
))


# ------------------------------------------------------------------ pooling
def _pool_infer(avg: bool) -> Any:
    def infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
        (x,) = ins
        k = expand(p["kernel_size"], 2)
        s = expand(p["stride"] if p["stride"] is not None else p["kernel_size"], 2)
        pad = expand(p["padding"], 2)
        d = (1, 1) if avg else expand(p["dilation"], 2)
        if any(pi * 2 > ki for pi, ki in zip(pad, k)):
            raise ShapeRuleError(f"padding={p['padding']} must be at most half the kernel size "
                                 f"{p['kernel_size']}")
        sizes = tuple(conv_out(n, ki, si, pi, di, p["ceil_mode"])
                      for n, ki, si, pi, di in zip(x.shape[1:], k, s, pad, d))
        if min(sizes) < 1:
            raise ShapeRuleError(f"pooling window {_size_words(k)} is larger than the input "
                                 f"{_size_words(x.shape[1:])} of {x}")
        y = TensorType((x.shape[0], *sizes))
        return out(y, 0, y.numel * math.prod(k), _stride=s)
    return infer


def _pool_onnx(avg: bool) -> Any:
    def emit(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
        pad = list(expand(p["padding"], 2))
        attrs: dict[str, Any] = {"kernel_shape": list(expand(p["kernel_size"], 2)),
                                 "strides": list(p["_stride"]), "pads": pad + pad,
                                 "ceil_mode": int(p["ceil_mode"])}
        if avg:
            attrs["count_include_pad"] = int(p["count_include_pad"])
        else:
            attrs["dilations"] = list(expand(p["dilation"], 2))
        return ctx.node("AveragePool" if avg else "MaxPool", xs, attrs, hint=name)
    return emit


_POOL_COMMON = (
    Ints("kernel_size", 2, "Window size.", min=1, max=1024, length=2),
    Ints("stride", None, "Step between windows (empty: the kernel size).", min=1, max=1024,
         length=2, optional=True),
    Ints("padding", 0, "Implicit padding on each side (at most half the kernel).", min=0,
         max=512, length=2),
)

register(LayerSpec(
    type="MaxPool2d", category="Pooling",
    help="Keeps the largest value of each window (downsamples height and width).",
    params=(*_POOL_COMMON,
            Ints("dilation", 1, "Spacing between window taps.", min=1, max=1024, length=2),
            Bool("ceil_mode", False, "Round the output size up instead of down.")),
    infer=_pool_infer(False), input_ranks=(3,), module="MaxPool2d",
    module_args=lambda p: ((p["kernel_size"],),
                           kw(p, stride=None, padding=0, dilation=1, ceil_mode=False)),
    onnx=_pool_onnx(False), face=("kernel_size",),
))

register(LayerSpec(
    type="AvgPool2d", category="Pooling",
    help="Averages each window (downsamples height and width).",
    params=(*_POOL_COMMON,
            Bool("ceil_mode", False, "Round the output size up instead of down."),
            Bool("count_include_pad", True, "Count padding zeros in the average.")),
    infer=_pool_infer(True), input_ranks=(3,), module="AvgPool2d",
    module_args=lambda p: ((p["kernel_size"],),
                           kw(p, stride=None, padding=0, ceil_mode=False,
                              count_include_pad=True)),
    onnx=_pool_onnx(True), face=("kernel_size",),
))


def _adaptive_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    size = expand(p["output_size"], 2)
    return out(TensorType((x.shape[0], *size)), 0, x.numel)


def _adaptive_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    size, spatial = expand(p["output_size"], 2), ins[0].shape[1:]
    if size == (1, 1):
        return ctx.node("GlobalAveragePool", xs, hint=name)
    if any(n % o for n, o in zip(spatial, size)):
        raise ExportError(f"{name}: ONNX has no adaptive pooling; it can be written as an "
                          f"average pool only when the input size {_size_words(spatial)} is a "
                          f"multiple of output_size {_size_words(size)}")
    k = [n // o for n, o in zip(spatial, size)]
    return ctx.node("AveragePool", xs, {"kernel_shape": k, "strides": k}, hint=name)


register(LayerSpec(
    type="AdaptiveAvgPool2d", category="Pooling",
    help="Averages down to a fixed output size whatever the input size (1 = global average).",
    params=(Ints("output_size", 1, "Output height and width.", min=1, max=4096, length=2),),
    infer=_adaptive_infer, input_ranks=(3,), module="AdaptiveAvgPool2d",
    module_args=lambda p: ((p["output_size"],), {}), onnx=_adaptive_onnx,
    face=("output_size",),
))


# ------------------------------------------------------------------ normalisation
def _bn_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    c = x.shape[0]
    return out(x, 2 * c if p["affine"] else 0, 4 * x.numel, num_features=c)


def _affine_or_const(ctx: Any, name: str, p: dict[str, Any], key: str, n: int,
                     value: float) -> str:
    if p.get("affine", p.get("elementwise_affine")):
        return ctx.weight(f"{name}.{key}")
    return ctx.const(np.full(n, value, np.float32), f"{name}_{key}")


def _bn_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    c = p["num_features"]
    scale = _affine_or_const(ctx, name, p, "weight", c, 1.0)
    bias = _affine_or_const(ctx, name, p, "bias", c, 0.0)
    return ctx.node("BatchNormalization", [xs[0], scale, bias, ctx.weight(f"{name}.running_mean"),
                                           ctx.weight(f"{name}.running_var")],
                    {"epsilon": p["eps"]}, hint=name)


_BN_PARAMS = (
    Inferred("num_features", "Channels of the incoming tensor (dim 1)."),
    Float("eps", 1e-5, "Added to the variance for stability.", min=0.0, max=1.0,
          min_exclusive=True),
    Float("momentum", 0.1, "Weight of the newest batch in the running statistics.",
          min=0.0, max=1.0),
    Bool("affine", True, "Learn a scale and a shift per channel."),
)

for _name, _ranks, _what in (("BatchNorm1d", (1, 2), "(features) or (channels, length)"),
                             ("BatchNorm2d", (3,), "(channels, height, width)")):
    register(LayerSpec(
        type=_name, category="Normalization",
        help=f"Normalises each channel of {_what} by batch statistics in training and by "
             "running statistics in evaluation.",
        params=_BN_PARAMS, infer=_bn_infer, input_ranks=_ranks, module=_name,
        module_args=lambda p: ((p["num_features"],), kw(p, eps=1e-5, momentum=0.1, affine=True)),
        onnx=_bn_onnx,
    ))


def _ln_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    k = p["dims"]
    if k > len(x.shape):
        raise ShapeRuleError(f"dims={k} is more than the {len(x.shape)} dimension(s) of {x}")
    shape = x.shape[-k:]
    n = math.prod(shape)
    return out(x, 2 * n if p["elementwise_affine"] else 0, 5 * x.numel, normalized_shape=shape)


def _ln_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    shape = p["normalized_shape"]
    if p["elementwise_affine"]:
        scale, bias = ctx.weight(f"{name}.weight"), ctx.weight(f"{name}.bias")
    else:
        scale = ctx.const(np.ones(shape, np.float32), name + "_one")
        bias = ctx.const(np.zeros(shape, np.float32), name + "_zero")
    return ctx.node("LayerNormalization", [xs[0], scale, bias],
                    {"axis": -p["dims"], "epsilon": p["eps"]}, hint=name)


register(LayerSpec(
    type="LayerNorm", category="Normalization",
    help="Normalises each sample over its last dims (transformers, RNNs); no batch statistics.",
    params=(
        ParamSpec("normalized_shape", "ints", None, "The normalised trailing shape (from the "
                  "incoming tensor).", optional=True, inferred=True, min=1),
        Int("dims", 1, "How many trailing dimensions to normalise over.", min=1, max=8),
        Float("eps", 1e-5, "Added to the variance for stability.", min=0.0, max=1.0,
              min_exclusive=True),
        Bool("elementwise_affine", True, "Learn a scale and a shift per normalised value."),
    ),
    infer=_ln_infer, module="LayerNorm",
    module_args=lambda p: ((p["normalized_shape"],), kw(p, eps=1e-5, elementwise_affine=True)),
    onnx=_ln_onnx,
))


def _gn_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    c, g = x.shape[0], p["num_groups"]
    if c % g:
        raise ShapeRuleError(f"num_groups={g} must divide the {c} channels of {x}")
    return out(x, 2 * c if p["affine"] else 0, 5 * x.numel, num_channels=c)


def _gn_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    x, g, c = ins[0], p["num_groups"], p["num_channels"]
    grouped = onnx_reshape(ctx, xs[0], (g, -1), name + "_grouped")
    ones, zeros = np.ones(g, np.float32), np.zeros(g, np.float32)
    normed = ctx.node("InstanceNormalization", [grouped, ctx.const(ones, name + "_one"),
                                                ctx.const(zeros, name + "_zero")],
                      {"epsilon": p["eps"]}, hint=name + "_norm")
    y = onnx_reshape(ctx, normed, x.shape, name + "_back")
    if not p["affine"]:
        return y
    per_channel = (c,) + (1,) * (len(x.shape) - 1)
    w = ctx.const(ctx.array(f"{name}.weight").reshape(per_channel), f"{name}.weight_c")
    b = ctx.const(ctx.array(f"{name}.bias").reshape(per_channel), f"{name}.bias_c")
    return ctx.node("Add", [ctx.node("Mul", [y, w]), b], hint=name)


register(LayerSpec(
    type="GroupNorm", category="Normalization",
    help="Normalises groups of channels within each sample (small batches, no batch statistics).",
    params=(
        Inferred("num_channels", "Channels of the incoming tensor (dim 1)."),
        Int("num_groups", 2, "Number of channel groups (must divide the channels).",
            min=1, max=65536),
        Float("eps", 1e-5, "Added to the variance for stability.", min=0.0, max=1.0,
              min_exclusive=True),
        Bool("affine", True, "Learn a scale and a shift per channel."),
    ),
    infer=_gn_infer, input_ranks=(1, 2, 3), module="GroupNorm",
    module_args=lambda p: ((p["num_groups"], p["num_channels"]), kw(p, eps=1e-5, affine=True)),
    onnx=_gn_onnx, face=("num_groups",),
))


# ------------------------------------------------------------------ others
register(LayerSpec(
    type="Dropout2d", category="Regularization",
    help="Zeroes whole channels with probability p during training; nothing in evaluation.",
    params=(Float("p", 0.5, "Probability of zeroing a channel.", min=0.0, max=1.0),),
    infer=lambda p, ins: out(ins[0]), input_ranks=(3,), module="Dropout2d",
    module_args=lambda p: ((), kw(p, p=0.5)),
    onnx=lambda ctx, name, p, xs, ins: ctx.node("Identity", xs, hint=name), face=("p",),
))


def _upsample_infer(p: dict[str, Any], ins: tuple[TensorType, ...]) -> Inference:
    (x,) = ins
    s = p["scale_factor"]
    y = TensorType((x.shape[0], x.shape[1] * s, x.shape[2] * s))
    return out(y, 0, y.numel * (1 if p["mode"] == "nearest" else 8))


def _upsample_onnx(ctx: Any, name: str, p: dict[str, Any], xs: list[str], ins: Any) -> str:
    s = float(p["scale_factor"])
    scales = ctx.const(np.array([1.0, 1.0, s, s], np.float32), name + "_scales")
    if p["mode"] == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                 "nearest_mode": "floor"}
    else:
        attrs = {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}
    return ctx.node("Resize", [xs[0], "", scales], attrs, hint=name)


register(LayerSpec(
    type="Upsample", category="Convolution",
    help="Enlarges height and width by an integer factor (nearest or bilinear).",
    params=(Int("scale_factor", 2, "Enlargement factor.", min=1, max=64),
            Choice("mode", "nearest", ("nearest", "bilinear"), "Interpolation.")),
    infer=_upsample_infer, input_ranks=(3,), module="Upsample",
    module_args=lambda p: ((), {"scale_factor": float(p["scale_factor"]),
                                **kw(p, mode="nearest")}),
    onnx=_upsample_onnx, face=("scale_factor", "mode"),
))
