"""Ops that move elements without arithmetic: reshape, transpose, expand, indexing, cat, stack."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import xp_of
from ..autograd.function import Function
from .util import scatter_add, sum_to


class Reshape(Function):
    def forward(self, a: Any, shape: tuple[int, ...]) -> Any:
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g: Any) -> tuple[Any, None]:
        return (g.reshape(self.shape), None)


class Permute(Function):
    def forward(self, a: Any, axes: tuple[int, ...]) -> Any:
        self.axes = axes
        return a.transpose(axes)

    def backward(self, g: Any) -> tuple[Any, None]:
        inverse = [0] * len(self.axes)
        for i, ax in enumerate(self.axes):
            inverse[ax] = i
        return (g.transpose(inverse), None)


class Expand(Function):
    def forward(self, a: Any, shape: tuple[int, ...]) -> Any:
        self.shape = a.shape
        return xp_of(a).broadcast_to(a, shape)

    def backward(self, g: Any) -> tuple[Any, None]:
        return (sum_to(g, self.shape), None)


class Repeat(Function):
    def forward(self, a: Any, reps: tuple[int, ...]) -> Any:
        self.shape, self.reps = a.shape, reps
        return xp_of(a).tile(a, reps)

    def backward(self, g: Any) -> tuple[Any, None]:
        shape = (1,) * (len(self.reps) - len(self.shape)) + tuple(self.shape)
        split = []
        for r, s in zip(self.reps, shape):
            split += [r, s]
        g = g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return (g.reshape(self.shape), None)


def is_basic_index(idx: Any) -> bool:
    """True when ``idx`` uses only ints, slices, None and Ellipsis (a view, no repeats)."""
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(isinstance(i, int | slice) or i is None or i is Ellipsis for i in items)


class Index(Function):
    """``a[idx]``; the backward of advanced indexing accumulates repeated indices."""

    def forward(self, a: Any, idx: Any) -> Any:
        self.shape, self.dtype, self.idx = a.shape, a.dtype, idx
        out = a[idx]
        if isinstance(out, np.generic):
            # An int on every axis: NumPy gives a scalar copy, PyTorch a 0-d view (so that
            # `x[0].fill_(1)` writes into x). A trailing Ellipsis makes NumPy return the view.
            out = a[(idx if isinstance(idx, tuple) else (idx,)) + (Ellipsis,)]
        return out

    def backward(self, g: Any) -> tuple[Any, None]:
        xp = xp_of(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        if is_basic_index(self.idx):
            out[self.idx] = g
        else:
            scatter_add(xp, out, self.idx, g)
        return (out, None)


class IndexPut(Function):
    """``a[idx] = v`` as an out-of-place op (the in-place wrapper copies the result back)."""

    def forward(self, a: Any, idx: Any, v: Any) -> Any:
        self.idx = idx
        self.vshape = getattr(v, "shape", ())
        out = a.copy()
        out[idx] = v
        return out

    def backward(self, g: Any) -> tuple[Any, None, Any]:
        ga = gv = None
        if self.needs[0]:
            ga = g.copy()
            ga[self.idx] = 0
        if self.needs[2]:
            gv = sum_to(g[self.idx], self.vshape)
        return ga, None, gv


class Cat(Function):
    def forward(self, *arrays: Any, dim: int) -> Any:
        self.dim = dim
        self.sizes = [a.shape[dim] for a in arrays]
        return xp_of(arrays[0]).concatenate(arrays, axis=dim)

    def backward(self, g: Any) -> tuple[Any, ...]:
        out = []
        start = 0
        for size, need in zip(self.sizes, self.needs):
            if need:
                sl = [slice(None)] * g.ndim
                sl[self.dim] = slice(start, start + size)
                out.append(g[tuple(sl)])
            else:
                out.append(None)
            start += size
        return tuple(out)


class Stack(Function):
    def forward(self, *arrays: Any, dim: int) -> Any:
        self.dim = dim
        return xp_of(arrays[0]).stack(arrays, axis=dim)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        return tuple(xp.take(g, i, axis=self.dim) if need else None
                     for i, need in enumerate(self.needs))


class Contiguous(Function):
    def forward(self, a: Any) -> Any:
        return xp_of(a).ascontiguousarray(a)

    def backward(self, g: Any) -> tuple[Any]:
        return (g,)


class Clone(Function):
    def forward(self, a: Any) -> Any:
        return a.copy()

    def backward(self, g: Any) -> tuple[Any]:
        return (g,)
