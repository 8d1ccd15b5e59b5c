"""Vision and sequence ops of ``nn.functional`` (PyTorch's names, arguments and defaults);
re-exported by ``engine.nn.functional``.

Arguments are validated here, where the user's names are known; the ops in ``engine.ops`` work on
raw arrays and trust their input.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import random as _random
from ..autograd.grad_mode import no_grad
from ..errors import ShapeError
from ..ops import conv as _conv
from ..ops import norm as _norm
from ..ops import pool as _pool
from ..ops import sparse as _sparse
from ..tensor import Tensor

__all__ = [
    "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d", "max_pool2d",
    "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_max_pool2d", "batch_norm", "layer_norm", "group_norm", "embedding", "dropout2d",
    "dropout1d", "interpolate", "upsample",
]


def _pair(v: Any, name: str, fn: str) -> tuple[int, int]:
    if isinstance(v, int | np.integer):
        return int(v), int(v)
    t = tuple(int(a) for a in v)
    if len(t) == 1:
        return t[0], t[0]
    if len(t) != 2:
        raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {v!r}")
    return t


def _batched(x: Tensor, fn: str, dims: int) -> tuple[Tensor, bool]:
    """Accept (N, C, *spatial) or the unbatched (C, *spatial); return a batched view."""
    if x.ndim == dims + 2:
        return x, False
    if x.ndim == dims + 1:
        return x.unsqueeze(0), True
    raise ShapeError(
        f"{fn}: expected a {dims + 1}-D (unbatched) or {dims + 2}-D (batched) input, got shape "
        f"{tuple(x.shape)}"
    )


# --------------------------------------------------------------------------- convolution


def _conv_pads(padding: Any, k: tuple[int, int], dilation: tuple[int, int],
               stride: tuple[int, int], fn: str) -> _conv.Pads:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{fn}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride}); use an explicit padding")
            th, tw = dilation[0] * (k[0] - 1), dilation[1] * (k[1] - 1)
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise ValueError(f"{fn}: padding must be 'valid', 'same', an int or a pair, got "
                         f"{padding!r}")
    ph, pw = _pair(padding, "padding", fn)
    if ph < 0 or pw < 0:
        raise ValueError(f"{fn}: negative padding {padding!r} is not supported")
    return (ph, ph, pw, pw)


def _check_conv(x: Tensor, weight: Tensor, bias: Tensor | None, groups: int, fn: str,
                transposed: bool = False) -> None:
    if groups < 1:
        raise ValueError(f"{fn}: groups must be a positive integer, got {groups}")
    c = x.shape[1]
    expect = weight.shape[0] if transposed else weight.shape[1] * groups
    if c != expect:
        raise ShapeError(
            f"{fn}: input has {c} channels but the weight of shape {tuple(weight.shape)} with "
            f"groups={groups} expects {expect}; fix in_channels or the input"
        )
    out_c = weight.shape[1] * groups if transposed else weight.shape[0]
    if out_c % groups or (transposed and weight.shape[0] % groups):
        raise ValueError(f"{fn}: channels must be divisible by groups={groups}")
    if bias is not None and tuple(bias.shape) != (out_c,):
        raise ShapeError(f"{fn}: bias has shape {tuple(bias.shape)}, expected ({out_c},)")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution over (N, C, H, W) (or unbatched (C, H, W)); im2col + one GEMM."""
    x, unbatched = _batched(input, "conv2d", 2)
    if weight.ndim != 4:
        raise ShapeError(f"conv2d: weight must be 4-D (out, in/groups, kh, kw), got shape "
                         f"{tuple(weight.shape)}")
    _check_conv(x, weight, bias, groups, "conv2d")
    s = _pair(stride, "stride", "conv2d")
    d = _pair(dilation, "dilation", "conv2d")
    k = tuple(weight.shape[2:])
    pads = _conv_pads(padding, k, d, s, "conv2d")
    h, w = x.shape[2:]
    if h + pads[0] + pads[1] < d[0] * (k[0] - 1) + 1 or w + pads[2] + pads[3] < d[1] * (
            k[1] - 1) + 1:
        raise ShapeError(
            f"conv2d: the (dilated) kernel {k} is larger than the padded input "
            f"({h + pads[0] + pads[1]}, {w + pads[2] + pads[3]}); use a smaller kernel or more "
            f"padding"
        )
    out = _conv.Conv2d.apply(x, weight, bias, s, pads, d, groups)
    return out.squeeze(0) if unbatched else out


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D convolution over (N, C, L): a conv2d with a height-1 kernel."""
    x, unbatched = _batched(input, "conv1d", 1)
    if weight.ndim != 3:
        raise ShapeError(f"conv1d: weight must be 3-D (out, in/groups, k), got shape "
                         f"{tuple(weight.shape)}")
    pad = padding if isinstance(padding, str) else (0, _single(padding, "padding", "conv1d"))
    out = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias,
                 (1, _single(stride, "stride", "conv1d")), pad,
                 (1, _single(dilation, "dilation", "conv1d")), groups).squeeze(2)
    return out.squeeze(0) if unbatched else out


def _single(v: Any, name: str, fn: str) -> int:
    if isinstance(v, int | np.integer):
        return int(v)
    t = tuple(v)
    if len(t) != 1:
        raise ValueError(f"{fn}: {name} must be an int or a 1-tuple, got {v!r}")
    return int(t[0])


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """Transposed 2-D convolution (the adjoint of conv2d); weight is (in, out/groups, kh, kw)."""
    x, unbatched = _batched(input, "conv_transpose2d", 2)
    _check_conv(x, weight, bias, groups, "conv_transpose2d", transposed=True)
    s = _pair(stride, "stride", "conv_transpose2d")
    d = _pair(dilation, "dilation", "conv_transpose2d")
    p = _pair(padding, "padding", "conv_transpose2d")
    op = _pair(output_padding, "output_padding", "conv_transpose2d")
    if op[0] >= max(s[0], d[0]) or op[1] >= max(s[1], d[1]):
        raise ValueError(f"conv_transpose2d: output_padding {op} must be smaller than either "
                         f"stride {s} or dilation {d}")
    k = weight.shape[2:]
    out_hw = tuple((x.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1
                   for i in range(2))
    if min(out_hw) <= 0:
        raise ShapeError(f"conv_transpose2d: the output size {out_hw} is not positive; reduce "
                         f"the padding {p}")
    out = _conv.ConvTranspose2d.apply(x, weight, bias, s, (p[0], p[0], p[1], p[1]), d, groups,
                                      out_hw)
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    x, unbatched = _batched(input, "conv_transpose1d", 1)
    f = "conv_transpose1d"
    out = conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias,
                           (1, _single(stride, "stride", f)), (0, _single(padding, "padding", f)),
                           (0, _single(output_padding, "output_padding", f)), groups,
                           (1, _single(dilation, "dilation", f))).squeeze(2)
    return out.squeeze(0) if unbatched else out


# --------------------------------------------------------------------------- pooling


def _pool_args(kernel_size: Any, stride: Any, padding: Any, dilation: Any,
               fn: str) -> tuple[tuple[int, int], ...]:
    k = _pair(kernel_size, "kernel_size", fn)
    s = k if stride is None or (isinstance(stride, Sequence) and len(stride) == 0) else _pair(
        stride, "stride", fn)
    p = _pair(padding, "padding", fn)
    d = _pair(dilation, "dilation", fn)
    if min(k) <= 0 or min(s) <= 0 or min(d) <= 0:
        raise ValueError(f"{fn}: kernel_size {k}, stride {s} and dilation {d} must be positive")
    for i in range(2):
        if p[i] > (d[i] * (k[i] - 1) + 1) // 2:
            raise ValueError(f"{fn}: padding {p} should be at most half of the effective kernel "
                             f"size {k} (dilation {d})")
    return k, s, p, d


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Max over windows; on ties the gradient goes to the first maximum (as PyTorch)."""
    x, unbatched = _batched(input, "max_pool2d", 2)
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, "max_pool2d")
    for i in range(2):
        if _pool.pool_out_size(x.shape[2 + i], k[i], s[i], p[i], d[i], ceil_mode) <= 0:
            raise ShapeError(f"max_pool2d: input of spatial size {tuple(x.shape[2:])} is too "
                             f"small for kernel {k} with padding {p} and dilation {d}")
    out = _pool.MaxPool2d.apply(x, k, s, p, d, ceil_mode)
    if return_indices:
        node = _pool.MaxPool2d.__new__(_pool.MaxPool2d)
        node.needs = (False,)
        with x.device.context():
            node.forward(x._data, k, s, p, d, ceil_mode)
            idx = Tensor._make(node.indices(x.shape), x.device)
        if unbatched:
            out, idx = out.squeeze(0), idx.squeeze(0)
        return out, idx
    return out.squeeze(0) if unbatched else out


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    f = "max_pool1d"
    s = None if stride is None else (1, _single(stride, "stride", f))
    res = max_pool2d(input.unsqueeze(-2), (1, _single(kernel_size, "kernel_size", f)), s,
                     (0, _single(padding, "padding", f)), (1, _single(dilation, "dilation", f)),
                     ceil_mode, return_indices)
    if return_indices:
        return res[0].squeeze(-2), res[1].squeeze(-2)
    return res.squeeze(-2)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over windows, with PyTorch's count_include_pad and ceil_mode divisor rules."""
    x, unbatched = _batched(input, "avg_pool2d", 2)
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1, "avg_pool2d")
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"avg_pool2d: divisor_override must be positive, got {divisor_override}")
    out = _pool.AvgPool2d.apply(x, k, s, p, ceil_mode, count_include_pad, divisor_override)
    return out.squeeze(0) if unbatched else out


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    f = "avg_pool1d"
    s = None if stride is None else (1, _single(stride, "stride", f))
    return avg_pool2d(input.unsqueeze(-2), (1, _single(kernel_size, "kernel_size", f)), s,
                      (0, _single(padding, "padding", f)), ceil_mode,
                      count_include_pad).squeeze(-2)


def _adaptive_size(output_size: Any, hw: tuple[int, int], fn: str) -> tuple[int, int]:
    if isinstance(output_size, int | np.integer):
        output_size = (output_size, output_size)
    sizes = tuple(hw[i] if output_size[i] is None else int(output_size[i]) for i in range(2))
    if len(tuple(output_size)) != 2 or min(sizes) <= 0:
        raise ValueError(f"{fn}: output_size must be a positive int or pair, got {output_size!r}")
    return sizes


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average over PyTorch's adaptive windows (global mean, a regular pool, or two GEMMs)."""
    x, unbatched = _batched(input, "adaptive_avg_pool2d", 2)
    h, w = x.shape[2:]
    oh, ow = _adaptive_size(output_size, (h, w), "adaptive_avg_pool2d")
    if (oh, ow) == (1, 1):
        out = x.mean(dim=(2, 3), keepdim=True)
    elif h % oh == 0 and w % ow == 0:
        k = (h // oh, w // ow)
        out = _pool.AvgPool2d.apply(x, k, k, (0, 0), False, True, None)
    else:
        xp = x.device.xp
        ah = xp.asarray(_pool.adaptive_avg_matrix(h, oh).astype(x.dtype))
        aw = xp.asarray(_pool.adaptive_avg_matrix(w, ow).astype(x.dtype))
        out = _pool.Resample2d.apply(x, ah, aw)
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool1d(input: Tensor, output_size: int) -> Tensor:
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, output_size)).squeeze(-2)


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max over PyTorch's adaptive windows (a regular max pool when they divide evenly)."""
    x, unbatched = _batched(input, "adaptive_max_pool2d", 2)
    h, w = x.shape[2:]
    oh, ow = _adaptive_size(output_size, (h, w), "adaptive_max_pool2d")
    if h % oh == 0 and w % ow == 0 and not return_indices:
        k = (h // oh, w // ow)
        out = _pool.MaxPool2d.apply(x, k, k, (0, 0), (1, 1), False)
        return out.squeeze(0) if unbatched else out
    out = _pool.AdaptiveMaxPool2d.apply(x, (oh, ow))
    if return_indices:
        node = _pool.AdaptiveMaxPool2d.__new__(_pool.AdaptiveMaxPool2d)
        node.needs = (False,)
        with x.device.context():
            node.forward(x._data, (oh, ow))
        idx = Tensor._make(node.src.astype(np.int64), x.device)
        if unbatched:
            out, idx = out.squeeze(0), idx.squeeze(0)
        return out, idx
    return out.squeeze(0) if unbatched else out


# --------------------------------------------------------------------------- normalisation


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over the channel axis 1 (fused forward and backward).

    In training the batch statistics normalise and the running statistics (when given) are
    updated in place: ``running = (1 - momentum) * running + momentum * batch_stat``, with the
    unbiased batch variance."""
    if input.ndim < 2:
        raise ShapeError(f"batch_norm: expected an input with at least 2 dims (N, C, ...), got "
                         f"shape {tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ShapeError(f"batch_norm: {name} has shape {tuple(t.shape)} but the input has "
                             f"{c} channels (shape {tuple(input.shape)}); set num_features={c}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are required when "
                         "training=False")
    rm = running_mean._data if running_mean is not None else None
    rv = running_var._data if running_var is not None else None
    out = _norm.BatchNorm.apply(input, weight, bias, rm, rv, training, momentum, eps)
    if training:
        for t in (running_mean, running_var):
            if t is not None:
                t._vc.value += 1
    return out


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims (fused forward and backward)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise ShapeError(f"layer_norm: input of shape {tuple(input.shape)} does not end with "
                         f"normalized_shape {shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ShapeError(f"layer_norm: {name} has shape {tuple(t.shape)}, expected {shape}")
    return _norm.LayerNorm.apply(input, weight, bias, k, eps)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each group of channels per sample (fused forward and backward)."""
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise ShapeError(f"group_norm: the {input.shape[1] if input.ndim > 1 else '?'} channels "
                         f"of input shape {tuple(input.shape)} are not divisible by num_groups="
                         f"{num_groups}")
    return _norm.GroupNorm.apply(input, weight, bias, num_groups, eps)


# --------------------------------------------------------------------------- embedding, dropout


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by the integer tensor ``input`` (any shape)."""
    if sparse:
        raise NotImplementedError("embedding: sparse=True gradients are not supported; use "
                                  "sparse=False (dense gradients)")
    idx = input._data if isinstance(input, Tensor) else weight.device.xp.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor, got {idx.dtype}; "
                        f"convert with .long()")
    num = weight.shape[0]
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= num:
            bad = hi if hi >= num else lo
            raise IndexError(f"embedding: index {bad} is out of range for an embedding with "
                             f"{num} rows (valid 0..{num - 1}); raise num_embeddings or fix the "
                             f"input")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within "
                             f"[-{num}, {num - 1}]")
        padding_idx %= num
    if max_norm is not None:
        _renorm_rows(weight, idx, max_norm, norm_type)
    return _sparse.Embedding.apply(weight, idx, padding_idx, scale_grad_by_freq)


def _renorm_rows(weight: Tensor, idx: Any, max_norm: float, norm_type: float) -> None:
    """PyTorch's ``embedding_renorm_``: rows used by ``idx`` with a norm above ``max_norm`` are
    scaled down in place (outside autograd)."""
    xp = weight.device.xp
    with no_grad():
        rows = xp.unique(idx.reshape(-1))
        w = weight._data[rows]
        norms = (xp.abs(w) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
        weight._data[rows] = w * scale[:, None]
        weight._vc.value += 1


def _warn_dropout2d_on_2d(ndim: int) -> None:
    warnings.warn(f"dropout2d: Received a {ndim}-D input to dropout2d, which is deprecated and "
                  f"will result in an error in a future release. To retain the behavior and "
                  f"silence this warning, please use dropout instead. Note that dropout2d exists "
                  f"to provide channel-wise dropout on inputs with 2 spatial dimensions, a "
                  f"channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
                  stacklevel=3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels with probability ``p`` (scaling the rest by 1/(1-p))."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (3, 4):  # PyTorch warns and drops elements, as dropout does
        from .functional import dropout  # noqa: PLC0415

        _warn_dropout2d_on_2d(input.ndim)
        return dropout(input, p, training, inplace)
    if input.ndim == 3:
        warnings.warn("dropout2d: a 3-D input is treated as (N, C, L), dropping whole channels "
                      "as PyTorch does; use dropout1d to make this explicit", stacklevel=2)
    return _channel_dropout(input, p, training, inplace)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of ``(N, C, L)`` (or ``(C, L)``) with probability ``p``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout1d: probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (2, 3):
        raise ShapeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D "
                         f"input. Note that dropout1d exists to provide channel-wise dropout on "
                         f"inputs with 1 spatial dimension, a channel dimension, and an optional "
                         f"batch dimension (i.e. 2D or 3D inputs).")
    if input.ndim == 2:
        out = _channel_dropout(input.unsqueeze(0), p, training, False).squeeze(0)
        return input.copy_(out) if inplace else out
    return _channel_dropout(input, p, training, inplace)


def _channel_dropout(input: Tensor, p: float, training: bool, inplace: bool) -> Tensor:
    if not training or p == 0.0:
        return input
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    if p == 1.0:
        keep = input.device.xp.zeros(shape, dtype=input.dtype)
    else:
        u = _random.uniform(shape, 0.0, 1.0, input.dtype, input.device)
        keep = (u >= p).astype(input.dtype) * input.dtype.type(1.0 / (1.0 - p))
    mask = Tensor._make(keep, input.device)
    if inplace:
        return input.mul_(mask)
    return input * mask


# --------------------------------------------------------------------------- interpolation


def _nearest_matrix(size: int, out: int, scale: float | None, exact: bool,
                    dtype: Any) -> np.ndarray:
    """One-hot (out, size) matrix of PyTorch's nearest source index (computed in float32)."""
    s = np.float32(1.0 / scale) if scale else np.float32(size / out)
    dst = np.arange(out, dtype=np.float32)
    if exact:
        src = np.floor((dst + np.float32(0.5)) * s).astype(np.int64)
    elif out == size:
        src = np.arange(out)
    elif out == 2 * size:
        src = np.arange(out) >> 1
    else:
        src = np.floor(dst * s).astype(np.int64)
    src = np.minimum(src, size - 1)
    m = np.zeros((out, size), dtype=dtype)
    m[np.arange(out), src] = 1
    return m


def _linear_matrix(size: int, out: int, scale: float | None, align_corners: bool,
                   dtype: Any) -> np.ndarray:
    """(out, size) matrix of PyTorch's linear interpolation weights (in the input's dtype)."""
    acc = np.float64 if np.dtype(dtype) == np.float64 else np.float32
    dst = np.arange(out, dtype=acc)
    if align_corners:
        s = acc((size - 1) / (out - 1)) if out > 1 else acc(0)
        src = dst * s
    else:
        s = acc(1.0 / scale) if scale else acc(size / out)
        src = np.maximum(s * (dst + acc(0.5)) - acc(0.5), acc(0))
    i0 = src.astype(np.int64)
    i1 = np.minimum(i0 + 1, size - 1)
    l1 = src - i0.astype(acc)
    l0 = acc(1) - l1
    m = np.zeros((out, size), dtype=acc)
    np.add.at(m, (np.arange(out), i0), l0)
    np.add.at(m, (np.arange(out), i1), l1)
    return m.astype(dtype)


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize (N, C, L) or (N, C, H, W) with modes nearest, nearest-exact, linear, bilinear or
    area; each is a separable linear map applied as two small GEMMs."""
    dims = input.ndim - 2
    if dims not in (1, 2):
        raise ShapeError(f"interpolate: expected a 3-D or 4-D input, got shape "
                         f"{tuple(input.shape)}")
    linear = {1: "linear", 2: "bilinear"}[dims]
    allowed = ("nearest", "nearest-exact", "area", linear)
    if mode not in allowed:
        raise ValueError(f"interpolate: mode {mode!r} is not supported for a {input.ndim}-D "
                         f"input; use one of {allowed}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if align_corners is not None and mode != linear:
        raise ValueError(f"interpolate: align_corners only applies to mode={linear!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    in_sz = tuple(input.shape[2:])
    if size is not None:
        out_sz = (int(size),) * dims if isinstance(size, int | np.integer) else tuple(
            int(s) for s in size)
        scales: tuple[float | None, ...] = (None,) * dims
    else:
        sf = (float(scale_factor),) * dims if isinstance(
            scale_factor, int | float) else tuple(float(s) for s in scale_factor)
        out_sz = tuple(int(math.floor(i * f)) for i, f in zip(in_sz, sf))
        scales = (None,) * dims if recompute_scale_factor else sf
    if len(out_sz) != dims or min(out_sz) <= 0:
        raise ValueError(f"interpolate: output size {out_sz} must have {dims} positive values")
    x = input if dims == 2 else input.unsqueeze(2)
    if dims == 1:
        in_sz, out_sz, scales = (1,) + in_sz, (1,) + out_sz, (None,) + scales
    if mode == "area":
        out = adaptive_avg_pool2d(x, out_sz)
    else:
        mats = []
        for i in range(2):
            if mode == linear:
                m = _linear_matrix(in_sz[i], out_sz[i], scales[i], bool(align_corners), x.dtype)
            else:
                m = _nearest_matrix(in_sz[i], out_sz[i], scales[i], mode == "nearest-exact",
                                    x.dtype)
            mats.append(x.device.xp.asarray(m))
        out = _pool.Resample2d.apply(x, mats[0], mats[1])
    return out if dims == 2 else out.squeeze(2)


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """Deprecated PyTorch alias of ``interpolate``."""
    return interpolate(input, size, scale_factor, mode, align_corners)
