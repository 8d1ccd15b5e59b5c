"""Ops that pick, place or reorder elements along a dimension: gather/scatter, sort's values,
cumulative sums and products, roll, flip, triangular masks and diagonals. Each forward is one
array call; each backward puts the gradient back where its element came from."""

from __future__ import annotations

from typing import Any

from .._backend import xp_of
from ..autograd.function import Function
from .util import scatter_add


def full_index(xp: Any, index: Any, dim: int) -> tuple[Any, ...]:
    """``index`` (positions along ``dim``) as a tuple of arrays addressing every element it
    names: what ``gather``/``scatter`` read and write, usable with ``add.at``."""
    out = []
    for d in range(index.ndim):
        if d == dim:
            out.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = index.shape[d]
            out.append(xp.arange(index.shape[d]).reshape(shape))
    return tuple(out)


class Gather(Function):
    """``out[i][j] = a[index[i][j]][j]`` (for dim=0); the backward adds each gradient back to
    the element it was read from (repeats accumulate)."""

    def forward(self, a: Any, dim: int, index: Any) -> Any:
        self.shape, self.where = a.shape, full_index(xp_of(a), index, dim)
        return a[self.where]

    def backward(self, g: Any) -> tuple[Any, None, None]:
        xp = xp_of(g)
        out = xp.zeros(self.shape, dtype=g.dtype)
        scatter_add(xp, out, self.where, g)
        return out, None, None


class Scatter(Function):
    """``a`` with ``src``'s elements written at ``index`` along ``dim`` (``add=True``: added).
    ``src`` may be a Python number."""

    def forward(self, a: Any, dim: int, index: Any, src: Any, add: bool) -> Any:
        xp = xp_of(a)
        self.where, self.add, self.index_shape = full_index(xp, index, dim), add, index.shape
        self.src_shape = getattr(src, "shape", None)
        out = a.copy()
        values = src[tuple(slice(0, s) for s in index.shape)] if hasattr(src, "shape") and \
            src.ndim else src
        if add:
            scatter_add(xp, out, self.where, values)
        else:
            out[self.where] = values
        return out

    def backward(self, g: Any) -> tuple[Any, None, None, Any, None]:
        ga = gs = None
        if self.needs[0]:
            ga = g
            if not self.add:  # overwritten elements don't reach the output
                ga = g.copy()
                ga[self.where] = 0
        if self.needs[3]:
            xp = xp_of(g)
            gs = xp.zeros(self.src_shape, dtype=g.dtype)
            gs[tuple(slice(0, s) for s in self.index_shape)] = g[self.where]
        return ga, None, None, gs, None


class Cumsum(Function):
    def forward(self, a: Any, dim: int) -> Any:
        self.dim = dim
        return xp_of(a).cumsum(a, axis=dim)

    def backward(self, g: Any) -> tuple[Any, None]:
        xp = xp_of(g)
        return xp.flip(xp.cumsum(xp.flip(g, self.dim), axis=self.dim), self.dim), None


class Cumprod(Function):
    """Running product; the gradient of element i is sum over j >= i of g_j * out_j / a_i,
    computed without dividing where ``a`` has zeros (exact, as PyTorch's)."""

    saves = (0,)

    def forward(self, a: Any, dim: int) -> Any:
        self.a, self.dim = a, dim
        self.out = xp_of(a).cumprod(a, axis=dim)
        return self.out

    def backward(self, g: Any) -> tuple[Any, None]:
        xp, a, d = xp_of(g), self.a, self.dim
        if not (a == 0).any():
            rev = xp.flip(xp.cumsum(xp.flip(g * self.out, d), axis=d), d)
            return rev / a, None
        am, gm = xp.moveaxis(a, d, -1), xp.moveaxis(g, d, -1)
        n = am.shape[-1]
        out = xp.zeros_like(am)
        for i in range(n):  # zeros present: the product of the others, one position at a time
            others = am.copy()
            others[..., i] = 1
            prods = xp.cumprod(others, axis=-1)
            out[..., i] = (gm[..., i:] * prods[..., i:]).sum(axis=-1)
        return xp.moveaxis(out, -1, d), None


class Roll(Function):
    def forward(self, a: Any, shifts: Any, dims: Any) -> Any:
        self.shifts, self.dims = shifts, dims
        return xp_of(a).roll(a, shifts, axis=dims)

    def backward(self, g: Any) -> tuple[Any, None, None]:
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return xp_of(g).roll(g, back, axis=self.dims), None, None


class Flip(Function):
    def forward(self, a: Any, dims: tuple[int, ...]) -> Any:
        self.dims = dims
        return xp_of(a).flip(a, dims).copy()

    def backward(self, g: Any) -> tuple[Any, None]:
        return xp_of(g).flip(g, self.dims), None


class Triangle(Function):
    """``tril``/``triu`` over the last two dimensions: the gradient keeps the same triangle."""

    def forward(self, a: Any, diagonal: int, upper: bool) -> Any:
        self.diagonal, self.upper = diagonal, upper
        xp = xp_of(a)
        return xp.triu(a, diagonal) if upper else xp.tril(a, diagonal)

    def backward(self, g: Any) -> tuple[Any, None, None]:
        xp = xp_of(g)
        return (xp.triu(g, self.diagonal) if self.upper else xp.tril(g, self.diagonal)), None, None


class Diag(Function):
    """1-D -> the square matrix with it on diagonal ``k``; 2-D -> diagonal ``k`` as 1-D."""

    def forward(self, a: Any, k: int) -> Any:
        self.shape, self.k = a.shape, k
        return xp_of(a).diag(a, k).copy()

    def backward(self, g: Any) -> tuple[Any, None]:
        xp = xp_of(g)
        if len(self.shape) == 1:
            return xp.diag(g, self.k).copy(), None
        out = xp.zeros(self.shape, dtype=g.dtype)
        n = g.shape[0]
        rows = xp.arange(n) + max(-self.k, 0)
        out[rows, rows + self.k] = g
        return out, None
