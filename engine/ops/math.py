"""Elementwise ops. Binary ops broadcast exactly as NumPy; each backward reduces its gradient to
the input's shape with ``sum_to``. A scalar operand is passed as a raw Python number."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _cuda_kernels
from .._backend import xp_of
from .._blas import split_map
from .._cuda_kernels import on_gpu
from ..autograd.function import Function
from .conv import batch_parts, one_piece
from .util import sum_to


def _shape(x: Any) -> tuple[int, ...]:
    return getattr(x, "shape", ())


class Add(Function):
    def forward(self, a: Any, b: Any) -> Any:
        if self.needs[0] or self.needs[1]:
            self.sa, self.sb = _shape(a), _shape(b)
        return a + b

    def backward(self, g: Any) -> tuple[Any, Any]:
        n = self.needs
        return (sum_to(g, self.sa) if n[0] else None, sum_to(g, self.sb) if n[1] else None)


class Sub(Function):
    def forward(self, a: Any, b: Any) -> Any:
        if self.needs[0] or self.needs[1]:
            self.sa, self.sb = _shape(a), _shape(b)
        return a - b

    def backward(self, g: Any) -> tuple[Any, Any]:
        n = self.needs
        return (sum_to(g, self.sa) if n[0] else None, sum_to(-g, self.sb) if n[1] else None)


def _save_for_product(fn: Function, a: Any, b: Any) -> None:
    """Keep only the operands a product-like backward reads: ``b`` for a's gradient, ``a`` for
    b's. ``saves`` set on the node narrows the in-place check to them (``x * 3`` then
    ``x.add_(1)`` is fine, as in PyTorch) and nothing else stays alive."""
    n = fn.needs
    fn.sa, fn.sb = _shape(a), _shape(b)
    if n[0] and n[1]:
        fn.a, fn.b = a, b
    elif n[0]:
        fn.b = b
        fn.saves = (1,)
    elif n[1]:
        fn.a = a
        fn.saves = (0,)


class Mul(Function):
    saves = (0, 1)

    def forward(self, a: Any, b: Any) -> Any:
        if self.needs[0] or self.needs[1]:
            _save_for_product(self, a, b)
        return a * b

    def backward(self, g: Any) -> tuple[Any, Any]:
        n = self.needs
        return (sum_to(g * self.b, self.sa) if n[0] else None,
                sum_to(g * self.a, self.sb) if n[1] else None)


class Div(Function):
    saves = (0, 1)

    def forward(self, a: Any, b: Any) -> Any:
        n = self.needs
        if n[1]:
            self.a, self.b, self.sa, self.sb = a, b, _shape(a), _shape(b)
        elif n[0]:
            self.b, self.sa, self.sb = b, _shape(a), _shape(b)
            self.saves = (1,)
        return a / b

    def backward(self, g: Any) -> tuple[Any, Any]:
        n, b = self.needs, self.b
        ga = sum_to(g / b, self.sa) if n[0] else None
        gb = sum_to(-g * self.a / (b * b), self.sb) if n[1] else None
        return ga, gb


class Pow(Function):
    """``a ** b`` for tensors or scalars on either side."""

    saves = (0, 1)
    saves_output = True

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        self.out = a ** b
        return self.out

    def backward(self, g: Any) -> tuple[Any, Any]:
        n, a, b = self.needs, self.a, self.b
        ga = gb = None
        if n[0]:
            if isinstance(b, int | float) and b == 2:
                ga = g * 2 * a
            else:
                ga = sum_to(g * b * a ** (b - 1), _shape(a))
        if n[1]:
            if isinstance(a, int | float):  # a Python float stays weak: no float64 gradient
                loga = math.log(a) if a > 0 else 0.0
            else:
                xp = xp_of(self.out)
                with np.errstate(divide="ignore", invalid="ignore"):
                    loga = xp.where(a > 0, xp.log(xp.where(a > 0, a, 1)), 0)
            gb = sum_to(g * self.out * loga, _shape(b))
        return ga, gb


class Neg(Function):
    def forward(self, a: Any) -> Any:
        return -a

    def backward(self, g: Any) -> tuple[Any]:
        return (-g,)


class Exp(Function):
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = xp_of(a).exp(a)
        return self.out

    def backward(self, g: Any) -> tuple[Any]:
        return (g * self.out,)


class Log(Function):
    saves = (0,)

    def forward(self, a: Any) -> Any:
        self.a = a
        return xp_of(a).log(a)

    def backward(self, g: Any) -> tuple[Any]:
        return (g / self.a,)


class Sqrt(Function):
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = xp_of(a).sqrt(a)
        return self.out

    def backward(self, g: Any) -> tuple[Any]:
        return (g / (2 * self.out),)


class Rsqrt(Function):
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = 1 / xp_of(a).sqrt(a)
        return self.out

    def backward(self, g: Any) -> tuple[Any]:
        return (-0.5 * g * self.out ** 3,)


class Abs(Function):
    saves = (0,)

    def forward(self, a: Any) -> Any:
        self.a = a
        return xp_of(a).abs(a)

    def backward(self, g: Any) -> tuple[Any]:
        return (g * xp_of(g).sign(self.a),)


class Sign(Function):
    def forward(self, a: Any) -> Any:
        self.shape = a.shape
        return xp_of(a).sign(a)

    def backward(self, g: Any) -> tuple[Any]:
        return (xp_of(g).zeros_like(g),)


class Sin(Function):
    saves = (0,)

    def forward(self, a: Any) -> Any:
        self.a = a
        return xp_of(a).sin(a)

    def backward(self, g: Any) -> tuple[Any]:
        return (g * xp_of(g).cos(self.a),)


class Cos(Function):
    saves = (0,)

    def forward(self, a: Any) -> Any:
        self.a = a
        return xp_of(a).cos(a)

    def backward(self, g: Any) -> tuple[Any]:
        return (-g * xp_of(g).sin(self.a),)


class Tanh(Function):
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = xp_of(a).tanh(a)
        return self.out

    def backward(self, g: Any) -> tuple[Any]:
        y = self.out
        return (g * (1 - y * y),)


class Sigmoid(Function):
    saves_output = True

    def forward(self, a: Any) -> Any:
        xp = xp_of(a)
        # Stable for large |a|: exp only of non-positive numbers.
        e = xp.exp(-xp.abs(a))
        self.out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        return self.out

    def backward(self, g: Any) -> tuple[Any]:
        y = self.out
        return (g * y * (1 - y),)


# NumPy 2's float ``maximum`` against a scalar 0 runs a slow loop; against a row of zeros
# broadcast over the array's leading axes it takes the fast same-layout loop: a 4.8 MB
# activation (LeNet-5's first at batch 256) 0.45 -> 0.26 ms, ResNet-18's 8 MB 0.81 -> 0.55 ms
# (one thread). Rows shorter than this lose the gain to the outer loop.
RELU_MIN_ROW = 256


def relu_into(xp: Any, a: Any, out: Any = None) -> Any:
    """``xp.maximum(a, 0, out=out)``, through a broadcast row of zeros where that is faster
    (C-contiguous NumPy float arrays whose trailing axes hold ``RELU_MIN_ROW`` to 2^16
    elements). NaN stays NaN either way, as in PyTorch."""
    row = 1
    for size in reversed(a.shape):
        row *= size
        if row >= RELU_MIN_ROW:
            break
    if (xp is not np or a.dtype.kind != "f" or not RELU_MIN_ROW <= row <= 1 << 16
            or not a.flags.c_contiguous or (out is not None and not out.flags.c_contiguous)):
        return xp.maximum(a, 0, out=out)
    flat = a.reshape(-1, row)
    res = np.maximum(flat, np.zeros(row, dtype=a.dtype),
                     out=None if out is None else out.reshape(flat.shape))
    return res.reshape(a.shape)


class Relu(Function):
    """``max(a, 0)``; the backward keeps only the mask. With ``in_place`` (``relu_``, and
    ``ReLU(inplace=True)``) the result is written into ``a`` itself: no output allocation and
    no copy back (the op never saves its input, so autograd allows it)."""

    def forward(self, a: Any, in_place: bool = False) -> Any:
        xp = xp_of(a)
        if self.needs[0] and on_gpu(xp, a.dtype):  # output and mask in one launch
            out, self.mask = _cuda_kernels.relu_with_mask(a)
            return out
        parts = batch_parts(xp, a)
        if one_piece(parts):
            if self.needs[0]:
                self.mask = a > 0
            return relu_into(xp, a, a if in_place else None)
        # A large batch: its parts on the op threads.
        out = a if in_place else xp.empty_like(a)
        mask = self.mask = xp.empty(a.shape, dtype=bool) if self.needs[0] else None

        def run(part: list[tuple[int, slice]]) -> None:
            for _, sl in part:
                if mask is not None:
                    xp.greater(a[sl], 0, out=mask[sl])
                relu_into(xp, a[sl], out[sl])

        split_map(run, parts)
        return out

    def backward(self, g: Any) -> tuple[Any, None]:
        xp = xp_of(g)
        parts = batch_parts(xp, g)
        if one_piece(parts):
            return g * self.mask, None
        gx = xp.empty(g.shape, dtype=xp.result_type(g.dtype, self.mask.dtype))
        mask = self.mask

        def run(part: list[tuple[int, slice]]) -> None:
            for _, sl in part:
                xp.multiply(g[sl], mask[sl], out=gx[sl])

        split_map(run, parts)
        return gx, None


class Clamp(Function):
    # backward reads only the mask made in forward, so later writes to the input are fine

    def forward(self, a: Any, lo: Any, hi: Any) -> Any:
        xp = xp_of(a)
        if self.needs[0]:
            mask = xp.ones(a.shape, dtype=bool)
            if lo is not None:
                mask &= a >= lo
            if hi is not None:
                mask &= a <= hi
            self.mask = mask
        return xp.clip(a, lo, hi).astype(a.dtype, copy=False)

    def backward(self, g: Any) -> tuple[Any, None, None]:
        return (g * self.mask, None, None)


class Maximum(Function):
    """Elementwise max; on ties the gradient is split evenly, as PyTorch does."""

    saves = (0, 1)

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return xp_of(a).maximum(a, b)

    def backward(self, g: Any) -> tuple[Any, Any]:
        return _minmax_backward(self, g, self.a > self.b)


class Minimum(Function):
    saves = (0, 1)

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return xp_of(a).minimum(a, b)

    def backward(self, g: Any) -> tuple[Any, Any]:
        return _minmax_backward(self, g, self.a < self.b)


def _minmax_backward(fn: Function, g: Any, a_wins: Any) -> tuple[Any, Any]:
    tie = fn.a == fn.b
    wa = a_wins + 0.5 * tie
    n = fn.needs
    ga = sum_to(g * wa, _shape(fn.a)) if n[0] else None
    gb = sum_to(g * (1 - wa), _shape(fn.b)) if n[1] else None
    return (ga.astype(g.dtype, copy=False) if ga is not None else None,
            gb.astype(g.dtype, copy=False) if gb is not None else None)


class Where(Function):
    def forward(self, cond: Any, a: Any, b: Any) -> Any:
        self.cond, self.sa, self.sb = cond, _shape(a), _shape(b)
        return xp_of(cond).where(cond, a, b)

    def backward(self, g: Any) -> tuple[None, Any, Any]:
        n = self.needs
        zero = g.dtype.type(0)
        xp = xp_of(g)
        ga = sum_to(xp.where(self.cond, g, zero), self.sa) if n[1] else None
        gb = sum_to(xp.where(self.cond, zero, g), self.sb) if n[2] else None
        return None, ga, gb


class Cast(Function):
    """dtype conversion; the gradient is cast back to the input's dtype."""

    def forward(self, a: Any, dtype: Any) -> Any:
        self.src = a.dtype
        return a.astype(dtype)

    def backward(self, g: Any) -> tuple[Any, None]:
        return (g.astype(self.src), None)


class ToDevice(Function):
    """Move between devices; the gradient moves back."""

    def forward(self, a: Any, device: Any) -> Any:
        from .._backend import device_of_array, to_device_array  # noqa: PLC0415

        self.src = device_of_array(a)
        return to_device_array(a, device)

    def backward(self, g: Any) -> tuple[Any, None]:
        from .._backend import to_device_array  # noqa: PLC0415

        return (to_device_array(g, self.src), None)


class MatMul(Function):
    """``a @ b`` with NumPy's matmul rules (1-D operands promoted, batch dims broadcast)."""

    saves = (0, 1)

    def forward(self, a: Any, b: Any) -> Any:
        if self.needs[0] or self.needs[1]:
            _save_for_product(self, a, b)
        return a @ b

    def backward(self, g: Any) -> tuple[Any, Any]:
        n, sa, sb = self.needs, self.sa, self.sb
        if len(sa) == 2 and len(sb) == 2:
            return (g @ self.b.T if n[0] else None, self.a.T @ g if n[1] else None)
        if len(sa) == 1 and len(sb) == 1:  # a dot product: g is 0-d
            return (g * self.b if n[0] else None, g * self.a if n[1] else None)
        xp = xp_of(g)
        g2 = g  # with the axes a 1-D operand dropped put back
        if len(sa) == 1:
            g2 = xp.expand_dims(g2, -2)
        if len(sb) == 1:
            g2 = xp.expand_dims(g2, -1)
        ga = gb = None
        if n[0]:
            b2 = self.b.reshape(-1, 1) if len(sb) == 1 else self.b
            ga = g2 @ xp.swapaxes(b2, -1, -2)
            ga = sum_to(ga, (1, sa[0]) if len(sa) == 1 else sa).reshape(sa)
        if n[1]:
            a2 = self.a.reshape(1, -1) if len(sa) == 1 else self.a
            gb = xp.swapaxes(a2, -1, -2) @ g2
            gb = sum_to(gb, (sb[0], 1) if len(sb) == 1 else sb).reshape(sb)
        return ga, gb


class Log1p(Function):
    saves = (0,)

    def forward(self, a: Any) -> Any:
        self.a = a
        return xp_of(a).log1p(a)

    def backward(self, g: Any) -> tuple[Any]:
        return (g / (1 + self.a),)


class Expm1(Function):
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = xp_of(a).expm1(a)
        return self.out

    def backward(self, g: Any) -> tuple[Any]:
        return (g * (self.out + 1),)


class Reciprocal(Function):
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = 1 / a
        return self.out

    def backward(self, g: Any) -> tuple[Any]:
        return (-g * self.out * self.out,)


class Erf(Function):
    """The error function (the engine's own, exact to float64 rounding: no SciPy needed)."""

    saves = (0,)

    def forward(self, a: Any) -> Any:
        from ..nn.functional import erf  # noqa: PLC0415 - the one erf implementation

        self.a = a
        return erf(a).astype(a.dtype, copy=False)

    def backward(self, g: Any) -> tuple[Any]:
        a = self.a
        return (g * (2 / math.sqrt(math.pi)) * xp_of(a).exp(-a * a),)


class _Rounding(Function):
    """A step function: its gradient is zero everywhere, as PyTorch defines it."""

    ufunc = "floor"

    def forward(self, a: Any, *args: Any) -> Any:
        return getattr(xp_of(a), self.ufunc)(a, *args)

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (xp_of(g).zeros_like(g),) + (None,) * (len(self.needs) - 1)


class Floor(_Rounding):
    ufunc = "floor"


class Ceil(_Rounding):
    ufunc = "ceil"


class Trunc(_Rounding):
    ufunc = "trunc"


class Round(_Rounding):
    ufunc = "round"  # half to even, as PyTorch; an optional second argument is ``decimals``
