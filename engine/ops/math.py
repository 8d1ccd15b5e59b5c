"""Elementwise ops. Binary ops broadcast exactly as NumPy; each backward reduces its gradient to
the input's shape with ``sum_to``. A scalar operand is passed as a raw Python number."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import xp_of
from ..autograd.function import Function
from .util import sum_to


def _shape(x: Any) -> tuple[int, ...]:
    return getattr(x, "shape", ())


class Add(Function):
    def forward(self, a: Any, b: Any) -> Any:
        self.sa, self.sb = _shape(a), _shape(b)
        return a + b

    def backward(self, g: Any) -> tuple[Any, Any]:
        n = self.needs
        return (sum_to(g, self.sa) if n[0] else None, sum_to(g, self.sb) if n[1] else None)


class Sub(Function):
    def forward(self, a: Any, b: Any) -> Any:
        self.sa, self.sb = _shape(a), _shape(b)
        return a - b

    def backward(self, g: Any) -> tuple[Any, Any]:
        n = self.needs
        return (sum_to(g, self.sa) if n[0] else None, sum_to(-g, self.sb) if n[1] else None)


class Mul(Function):
    saves = (0, 1)

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a * b

    def backward(self, g: Any) -> tuple[Any, Any]:
        n, a, b = self.needs, self.a, self.b
        return (sum_to(g * b, _shape(a)) if n[0] else None,
                sum_to(g * a, _shape(b)) if n[1] else None)


class Div(Function):
    saves = (0, 1)

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a / b

    def backward(self, g: Any) -> tuple[Any, Any]:
        n, a, b = self.needs, self.a, self.b
        ga = sum_to(g / b, _shape(a)) if n[0] else None
        gb = sum_to(-g * a / (b * b), _shape(b)) if n[1] else None
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
            xp = xp_of(self.out)
            with np.errstate(divide="ignore", invalid="ignore"):
                loga = xp.where(a > 0, xp.log(xp.where(a > 0, a, 1)), 0) if not isinstance(
                    a, int | float) else np.log(a) if a > 0 else 0.0
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


class Relu(Function):
    def forward(self, a: Any) -> Any:
        out = xp_of(a).maximum(a, 0)
        if self.needs[0]:
            self.mask = a > 0
        return out

    def backward(self, g: Any) -> tuple[Any]:
        return (g * self.mask,)


class Clamp(Function):
    saves = (0,)

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
        self.a, self.b = a, b
        return a @ b

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b, n = self.a, self.b, self.needs
        xp = xp_of(g)
        if a.ndim == 2 and b.ndim == 2:
            return (g @ b.T if n[0] else None, a.T @ g if n[1] else None)
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        ga = gb = None
        if n[0]:
            ga = g2 @ xp.swapaxes(b2, -1, -2)
            ga = sum_to(ga, a2.shape).reshape(a.shape)
        if n[1]:
            gb = xp.swapaxes(a2, -1, -2) @ g2
            gb = sum_to(gb, b2.shape).reshape(b.shape)
        return ga, gb
