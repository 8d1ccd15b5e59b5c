"""More of ``engine.nn.functional``: activations, distances, attention, ``pixel_shuffle`` and
``unfold``. Each is composed of the engine's differentiable primitives (their gradients come from
those, checked against PyTorch's and finite differences in the tests); none is on the hot path
of the editor's networks, which keep their fused ops.
"""

from __future__ import annotations

import math
from typing import Any

from ..tensor import Tensor, where
from ._functional_vision import _pair

__all__ = [
    "celu", "cosine_similarity", "glu", "hardsigmoid", "hardswish", "hardtanh", "logsigmoid",
    "mish", "normalize", "pairwise_distance", "pixel_shuffle", "pixel_unshuffle", "prelu",
    "relu6", "scaled_dot_product_attention", "selu", "softmin", "softplus", "softsign",
    "tanhshrink", "unfold", "fold", "threshold", "instance_norm",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# --------------------------------------------------------------------- activations


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold`` (as PyTorch)."""
    z = input * beta
    soft = (z.clamp(max=threshold).exp().log1p()) / beta
    return where(z > threshold, input, soft)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    out = input.clamp(min_val, max_val)
    return input.copy_(out) if inplace else out


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    out = where(input > threshold, input, value)
    return input.copy_(out) if inplace else out


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x))`` computed stably: ``min(x, 0) - log1p(exp(-|x|))``."""
    return input.clamp(max=0.0) - (-input.abs()).exp().log1p()


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    out = input * softplus(input).tanh()
    return input.copy_(out) if inplace else out


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    out = (input / 6 + 0.5).clamp(0.0, 1.0)
    return input.copy_(out) if inplace else out


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    out = input * (input + 3).clamp(0.0, 6.0) / 6
    return input.copy_(out) if inplace else out


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    from .functional import elu  # noqa: PLC0415

    out = elu(input, _SELU_ALPHA) * _SELU_SCALE
    return input.copy_(out) if inplace else out


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    out = input.clamp(min=0.0) + ((input / alpha).clamp(max=0.0).exp() - 1) * alpha
    return input.copy_(out) if inplace else out


def softsign(input: Tensor) -> Tensor:
    return input / (1 + input.abs())


def tanhshrink(input: Tensor) -> Tensor:
    return input - input.tanh()


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """The first half of ``dim`` gated by the sigmoid of the second half."""
    if input.shape[dim] % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dimension {dim} is size "
                           f"{input.shape[dim]}")
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    from .functional import softmax  # noqa: PLC0415

    return softmax(-input, dim, _stacklevel + 1, dtype)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x if x >= 0 else weight * x``, one weight, or one per channel (dimension 1)."""
    w = weight
    if weight.numel() > 1:
        if input.ndim < 2 or input.shape[1] != weight.numel():
            raise RuntimeError(f"prelu: {weight.numel()} weights but the input has "
                               f"{input.shape[1] if input.ndim > 1 else 1} channels")
        w = weight.reshape((1, -1) + (1,) * (input.ndim - 2))
    return where(input >= 0, input, input * w)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5) -> Tensor:
    """Normalise each sample's channels over their spatial positions (``(N, C, *)``)."""
    from ..autograd.grad_mode import no_grad  # noqa: PLC0415

    dims = tuple(range(2, input.ndim))
    shape = (1, -1) + (1,) * len(dims)
    if use_input_stats:
        mean = input.mean(dims, keepdim=True)
        var = input.var(dims, unbiased=False, keepdim=True)
        if running_mean is not None:
            n = math.prod(input.shape[2:])
            with no_grad():
                running_mean.mul_(1 - momentum).add_(mean.mean(0).reshape(-1) * momentum)
                unbiased = var * (n / max(n - 1, 1))
                running_var.mul_(1 - momentum).add_(unbiased.mean(0).reshape(-1) * momentum)
    else:
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    out = (input - mean) / (var + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


# --------------------------------------------------------------------- distances


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Tensor | None = None) -> Tensor:
    """Each vector along ``dim`` divided by its p-norm (at least ``eps``)."""
    result = input / input.norm(p=p, dim=dim, keepdim=True).clamp(min=eps)
    return result if out is None else out.copy_(result)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``x1 . x2 / (max(|x1|, eps) * max(|x2|, eps))`` along ``dim`` (PyTorch clamps each norm)."""
    n1 = x1.norm(dim=dim).clamp(min=eps)
    n2 = x2.norm(dim=dim).clamp(min=eps)
    return (x1 * x2).sum(dim) / (n1 * n2)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` along the last dimension, as PyTorch computes it."""
    return (x1 - x2 + eps).norm(p=p, dim=-1, keepdim=keepdim)


# --------------------------------------------------------------------- attention


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(Q K^T * scale + mask) V`` over the last two dimensions.

    ``attn_mask``: a bool mask (True = may attend) or a float mask added to the scores;
    ``is_causal``: each position attends to itself and earlier ones only.
    """
    from .functional import dropout, softmax  # noqa: PLC0415

    L, S = query.shape[-2], key.shape[-2]  # noqa: N806
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, not both")
        from ..creation import ones  # noqa: PLC0415

        attn_mask = ones(L, S, dtype="bool", device=query.device).tril()
    if attn_mask is not None:
        if attn_mask.dtype == "bool":
            scores = scores.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            scores = scores + attn_mask
    weights = softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return weights @ value


# --------------------------------------------------------------------- rearrangements


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """``(*, C r^2, H, W)`` -> ``(*, C, H r, W r)``."""
    r = upscale_factor
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                           f"is not divisible by {r * r}")
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    n = len(lead)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """``(*, C, H r, W r)`` -> ``(*, C r^2, H, W)``."""
    r = downscale_factor
    *lead, c, h, w = input.shape
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    n = len(lead)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Tensor:
    """Sliding blocks of a batched image ``(N, C, H, W)`` as columns ``(N, C*kh*kw, L)``
    (im2col), ordered as PyTorch orders them."""
    from ..creation import stack  # noqa: PLC0415
    from .functional import pad  # noqa: PLC0415

    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (
        _pair(v, name, "unfold") for v, name in ((kernel_size, "kernel_size"),
                                                 (dilation, "dilation"), (padding, "padding"),
                                                 (stride, "stride")))
    if input.ndim != 4:
        raise RuntimeError(f"unfold: expected a 4-D (N, C, H, W) input, got shape "
                           f"{tuple(input.shape)}")
    x = pad(input, (pw, pw, ph, ph)) if ph or pw else input
    n, c, h, w = x.shape
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    patches = [x[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
               for i in range(kh) for j in range(kw)]
    cols = stack(patches, dim=2)  # (N, C, kh*kw, oh, ow)
    return cols.reshape(n, c * kh * kw, oh * ow)


def fold(input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Tensor:
    """The adjoint of ``unfold``: columns summed back into an image (col2im)."""
    from ..creation import zeros  # noqa: PLC0415

    (oh_img, ow_img), (kh, kw), (dh, dw), (ph, pw), (sh, sw) = (
        _pair(v, name, "fold") for v, name in ((output_size, "output_size"),
                                               (kernel_size, "kernel_size"),
                                               (dilation, "dilation"), (padding, "padding"),
                                               (stride, "stride")))
    n, ckk, length = input.shape
    c = ckk // (kh * kw)
    h, w = oh_img + 2 * ph, ow_img + 2 * pw
    oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    if oh * ow != length:
        raise RuntimeError(f"fold: {length} blocks given but output_size {(oh_img, ow_img)} "
                           f"with these settings makes {oh * ow}")
    cols = input.reshape(n, c, kh * kw, oh, ow)
    out = zeros(n, c, h, w, dtype=input.dtype, device=input.device)
    for k, (i, j) in enumerate((i, j) for i in range(kh) for j in range(kw)):
        sl = (slice(None), slice(None), slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
              slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))
        out = _add_at(out, sl, cols[:, :, k])
    return out[:, :, ph:ph + oh_img, pw:pw + ow_img]


def _add_at(out: Tensor, index: Any, value: Tensor) -> Tensor:
    """``out`` with ``value`` added at ``index`` (a strided slice), out of place."""
    out = out.clone()
    out[index] = out[index] + value
    return out
