"""Reductions over ``dim`` (an int, a tuple, or None for all) with ``keepdim``."""

from __future__ import annotations

from typing import Any

from .._backend import xp_of
from ..autograd.function import Function
from .util import broadcast_grad, expand_reduced


class Sum(Function):
    def forward(self, a: Any, axes: tuple[int, ...] | None, keepdim: bool) -> Any:
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    def backward(self, g: Any) -> tuple[Any, None, None]:
        g = expand_reduced(g, self.shape, self.axes, self.keepdim)
        return (broadcast_grad(g, self.shape), None, None)


class Mean(Function):
    def forward(self, a: Any, axes: tuple[int, ...] | None, keepdim: bool) -> Any:
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        self.count = a.size // max(1, _reduced_size(a.shape, axes, inverse=True))
        return a.mean(axis=axes, keepdims=keepdim)

    def backward(self, g: Any) -> tuple[Any, None, None]:
        g = expand_reduced(g, self.shape, self.axes, self.keepdim) / self.count
        return (broadcast_grad(g, self.shape), None, None)


def _reduced_size(shape: tuple[int, ...], axes: tuple[int, ...] | None, inverse: bool) -> int:
    """Product of the kept dims (inverse=True) or of the reduced ones."""
    size = 1
    for i, s in enumerate(shape):
        reduced = axes is None or i in axes
        if reduced != inverse:
            size *= s
    return size


class Var(Function):
    saves = (0,)

    def forward(self, a: Any, axes: tuple[int, ...] | None, correction: int, keepdim: bool) -> Any:
        self.a, self.axes, self.keepdim = a, axes, keepdim
        n = _reduced_size(a.shape, axes, inverse=False)
        self.denom = max(n - correction, 0)
        self.mean = a.mean(axis=axes, keepdims=True)
        d = a - self.mean
        return (d * d).sum(axis=axes, keepdims=keepdim) / self.denom

    def backward(self, g: Any) -> tuple[Any, None, None, None]:
        g = expand_reduced(g, self.a.shape, self.axes, self.keepdim)
        return (g * 2 * (self.a - self.mean) / self.denom, None, None, None)


class Prod(Function):
    """Product; its gradient is the product of the other elements, exact even with zeros."""

    saves = (0,)

    def forward(self, a: Any, axis: int | None, keepdim: bool) -> Any:
        self.a, self.axis, self.keepdim = a, axis, keepdim
        return a.prod(axis=axis, keepdims=keepdim)

    def backward(self, g: Any) -> tuple[Any, None, None]:
        xp = xp_of(g)
        a = self.a
        axis = self.axis
        flat = a.reshape(-1) if axis is None else a
        ax = 0 if axis is None else axis
        ones_shape = list(flat.shape)
        ones_shape[ax] = 1
        one = xp.ones(ones_shape, dtype=a.dtype)
        left = xp.cumprod(xp.concatenate([one, flat], axis=ax), axis=ax)
        left = xp.take(left, xp.arange(flat.shape[ax]), axis=ax)
        rev = xp.flip(flat, axis=ax)
        right = xp.cumprod(xp.concatenate([one, rev], axis=ax), axis=ax)
        right = xp.flip(xp.take(right, xp.arange(flat.shape[ax]), axis=ax), axis=ax)
        others = (left * right).reshape(a.shape)
        g = expand_reduced(g, a.shape, None if axis is None else (axis,), self.keepdim)
        return (g * others, None, None)


class MaxMin(Function):
    """max/min over all elements: on ties the gradient is shared evenly (PyTorch's amax)."""

    saves = (0,)
    saves_output = True

    def forward(self, a: Any, axes: tuple[int, ...] | None, keepdim: bool, is_max: bool) -> Any:
        self.a, self.axes, self.keepdim = a, axes, keepdim
        self.out = a.max(axis=axes, keepdims=keepdim) if is_max else a.min(
            axis=axes, keepdims=keepdim)
        return self.out

    def backward(self, g: Any) -> tuple[Any, None, None, None]:
        out = expand_reduced(self.out, self.a.shape, self.axes, self.keepdim)
        g = expand_reduced(g, self.a.shape, self.axes, self.keepdim)
        mask = self.a == out
        count = mask.sum(axis=self.axes, keepdims=True)
        return ((g * mask / count).astype(g.dtype, copy=False), None, None, None)


class MaxMinDim(Function):
    """max/min along one dim (returns values; indices computed alongside): the gradient goes to
    the one element the index names, as PyTorch's ``max(dim)`` does."""

    def forward(self, a: Any, dim: int, keepdim: bool, is_max: bool) -> Any:
        xp = xp_of(a)
        idx = a.argmax(axis=dim) if is_max else a.argmin(axis=dim)
        self.index = xp.expand_dims(idx, dim)
        self.shape, self.dim, self.keepdim = a.shape, dim, keepdim
        values = xp.take_along_axis(a, self.index, axis=dim)
        return values if keepdim else values.squeeze(dim)

    def backward(self, g: Any) -> tuple[Any, None, None, None]:
        xp = xp_of(g)
        if not self.keepdim:
            g = xp.expand_dims(g, self.dim)
        n = self.shape[self.dim]
        pos = xp.arange(n).reshape((n,) + (1,) * (len(self.shape) - self.dim - 1))
        return ((pos == self.index) * g, None, None, None)


class LogSumExp(Function):
    def forward(self, a: Any, axes: tuple[int, ...] | None, keepdim: bool) -> Any:
        xp = xp_of(a)
        m = a.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        e = xp.exp(a - m)
        s = e.sum(axis=axes, keepdims=True)
        out = xp.log(s) + m
        if self.needs[0]:  # backward: g * softmax, from these two
            self.e, self.s = e, s
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return out if keepdim else (out.reshape(()) if axes is None else out.squeeze(axes))

    def backward(self, g: Any) -> tuple[Any, None, None]:
        g = expand_reduced(g, self.shape, self.axes, self.keepdim)
        return (g / self.s * self.e, None, None)
