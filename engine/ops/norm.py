"""Normalisation layers as fused ops: one forward pass computing statistics, the normalised
input and the affine transform, and one hand-derived backward, instead of a graph of ~10 small
elementwise ops (each a full pass over memory).

The shared backward of ``y = xhat * w + b`` with ``xhat = (x - mean) * invstd`` over ``n``
reduced elements is
``dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`` with ``dxhat = dy * w``.
"""

from __future__ import annotations

from typing import Any

from .._backend import xp_of
from .._blas import split_map
from ..autograd.function import Function
from .conv import batch_parts, part_sum


def _standardize(x: Any, axes: tuple[int, ...], eps: float) -> tuple[Any, Any, Any, Any]:
    """(mean, biased variance, 1/sqrt(var + eps), (x - mean) * invstd) over ``axes``, kept as
    broadcastable dims."""
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    invstd = 1.0 / xp_of(x).sqrt(var + eps)
    xc *= invstd  # now xhat, in place
    return mean, var, invstd, xc


def _norm_backward(dxhat: Any, xhat: Any, invstd: Any, axes: tuple[int, ...]) -> Any:
    m1 = dxhat.mean(axis=axes, keepdims=True)
    m2 = (dxhat * xhat).mean(axis=axes, keepdims=True)
    dx = dxhat - m1
    dx -= xhat * m2
    dx *= invstd
    return dx


def _channel_dot(a: Any, b: Any) -> Any:
    """Per channel, the sum over N and L of ``a * b`` for (N, C, L) arrays, with no (N, C, L)
    temporary: one batched dot per (n, c), then a sum over n (half the time of
    ``(a * b).sum(axis=(0, 2))`` for a ResNet activation)."""
    return (a[:, :, None, :] @ b[:, :, :, None]).reshape(a.shape[:2]).sum(axis=0)


class BatchNorm(Function):
    """Batch normalisation over every axis but 1 (channels).

    Training: normalise with the batch statistics and update ``running_mean``/``running_var``
    (raw arrays, updated in place; the running variance uses the unbiased estimate, as PyTorch).
    Evaluation: normalise with the running statistics (an affine map).

    Works on the input viewed (N, C, L) with per-channel vectors, and keeps only the centred
    input ``xc`` and ``invstd`` for the backward: the forward is a sum, the centring, one
    batched dot for the variance and the scale-and-shift (5 passes over memory, was 7 with 3
    temporaries); the backward is a sum, one batched dot, and ``dx = g*A + xc*B + C`` with
    per-channel A, B, C (was ~11 passes), from
    ``dx = invstd*w * (g - mean(g) - xhat*mean(g*xhat))``. Large batches run each pass on the
    op threads, a part of the batch each (``batch_parts``); per-channel sums add the parts'
    sums in a fixed order."""

    saves = (1,)

    def forward(self, x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                training: bool, momentum: float, eps: float) -> Any:
        xp = xp_of(x)
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        parts = batch_parts(xp, x3)
        xc = None
        if training:
            m = x3.shape[0] * x3.shape[2]
            if m <= 1:
                raise ValueError(
                    f"batch_norm: expected more than 1 value per channel when training, got input "
                    f"of shape {tuple(x.shape)}; use a batch larger than 1 or call model.eval()"
                )
            mean = part_sum(split_map(
                lambda part: part_sum([x3[sl].sum(axis=(0, 2)) for _, sl in part]),
                parts)) / x.dtype.type(m)
            xc = xp.empty_like(x3)

            def centre(part: list[tuple[int, slice]]) -> Any:
                dots = []
                for _, sl in part:
                    xp.subtract(x3[sl], mean[:, None], out=xc[sl])
                    dots.append(_channel_dot(xc[sl], xc[sl]))
                return part_sum(dots)

            var = part_sum(split_map(centre, parts)) / x.dtype.type(m)
            if running_mean is not None:
                running_mean *= 1.0 - momentum
                running_mean += momentum * mean.astype(running_mean.dtype)
            if running_var is not None:
                unbiased = var * (m / (m - 1))
                running_var *= 1.0 - momentum
                running_var += momentum * unbiased.astype(running_var.dtype)
            self.m = m
        else:
            mean = running_mean.astype(x.dtype, copy=False)
            var = running_var.astype(x.dtype, copy=False)
            if self.needs[1]:
                xc = x3 - mean[:, None]
        invstd = 1.0 / xp.sqrt(var + eps)
        scale = invstd if weight is None else invstd * weight
        shift = None if xc is not None else -(mean * scale)
        out = xp.empty_like(x3)

        def affine(part: list[tuple[int, slice]]) -> None:
            for _, sl in part:
                o = out[sl]
                if xc is not None:
                    xp.multiply(xc[sl], scale[:, None], out=o)
                else:  # one affine pass: x * scale + shift
                    xp.multiply(x3[sl], scale[:, None], out=o)
                    o += shift[:, None]
                if bias is not None:
                    o += bias[:, None]

        split_map(affine, parts)
        self.training, self.xc, self.invstd, self.scale = training, xc, invstd, scale
        self.parts = parts
        return out.reshape(x.shape)

    def backward(self, g: Any) -> tuple[Any, ...]:
        needs, xc, invstd, a, parts = self.needs, self.xc, self.invstd, self.scale, self.parts
        xp = xp_of(g)
        g3 = g.reshape(g.shape[0], g.shape[1], -1)
        gx = gw = gb = None
        batch_terms = needs[0] and self.training
        want_gb, want_gw = needs[2] or batch_terms, needs[1] or batch_terms
        if want_gb or want_gw:
            def sums(part: list[tuple[int, slice]]) -> tuple[Any, Any]:
                bs = [g3[sl].sum(axis=(0, 2)) for _, sl in part] if want_gb else None
                ws = [_channel_dot(g3[sl], xc[sl]) for _, sl in part] if want_gw else None
                return bs and part_sum(bs), ws and part_sum(ws)

            found = split_map(sums, parts)
            if want_gb:
                gb = part_sum([b for b, _ in found])
            if want_gw:
                gw = part_sum([w for _, w in found]) * invstd  # sum of g * xhat
        if needs[0]:
            gx = xp.empty_like(g3)
            if batch_terms:
                m = g.dtype.type(self.m)
                shift = (-a * gb / m)[:, None]
                slope = (-a * invstd * gw / m)[:, None]

            def dx(part: list[tuple[int, slice]]) -> None:
                for _, sl in part:
                    o = gx[sl]
                    xp.multiply(g3[sl], a[:, None], out=o)
                    if batch_terms:
                        o += shift
                        o += xc[sl] * slope

            split_map(dx, parts)
            gx = gx.reshape(g.shape)
        return (gx, gw if needs[1] else None, gb if needs[2] else None, None, None, None, None,
                None)


class LayerNorm(Function):
    """Normalise over the last ``k`` axes, then an elementwise affine over those axes."""

    saves = (1,)

    def forward(self, x: Any, weight: Any, bias: Any, k: int, eps: float) -> Any:
        axes = tuple(range(x.ndim - k, x.ndim))
        _, _, invstd, xhat = _standardize(x, axes, eps)
        self.axes, self.invstd, self.xhat, self.weight = axes, invstd, xhat, weight
        out = xhat * weight if weight is not None else xhat.copy()
        if bias is not None:
            out += bias
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        axes, lead = self.axes, tuple(range(self.xhat.ndim - len(self.axes)))
        gx = gw = gb = None
        if self.needs[1]:
            gw = (g * self.xhat).sum(axis=lead)
        if self.needs[2]:
            gb = g.sum(axis=lead)
        if self.needs[0]:
            dxhat = g * self.weight if self.weight is not None else g
            gx = _norm_backward(dxhat, self.xhat, self.invstd, axes)
        return gx, gw, gb, None, None


class GroupNorm(Function):
    """Normalise each of ``num_groups`` channel groups per sample, then a per-channel affine."""

    saves = (1,)

    def forward(self, x: Any, weight: Any, bias: Any, num_groups: int, eps: float) -> Any:
        n, c = x.shape[:2]
        _, _, invstd, xhat = _standardize(x.reshape(n, num_groups, -1), (2,), eps)
        bshape = (1, c) + (1,) * (x.ndim - 2)
        self.invstd, self.xhat, self.weight, self.bshape = invstd, xhat, weight, bshape
        self.shape = x.shape
        out = xhat.reshape(x.shape)
        out = out * weight.reshape(bshape) if weight is not None else out.copy()
        if bias is not None:
            out += bias.reshape(bshape)
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        shape, bshape = self.shape, self.bshape
        sum_axes = (0,) + tuple(range(2, len(shape)))
        gx = gw = gb = None
        if self.needs[1]:
            gw = (g * self.xhat.reshape(shape)).sum(axis=sum_axes)
        if self.needs[2]:
            gb = g.sum(axis=sum_axes)
        if self.needs[0]:
            dxhat = g * self.weight.reshape(bshape) if self.weight is not None else g
            dxhat = dxhat.reshape(self.xhat.shape)
            gx = _norm_backward(dxhat, self.xhat, self.invstd, (2,)).reshape(shape)
        return gx, gw, gb, None, None
