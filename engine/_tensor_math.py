"""Tensor methods for arithmetic, comparisons, elementwise math and reductions (a mixin of
``engine.tensor.Tensor``, split out only to keep each module readable)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

from . import dtypes
from . import tensor as _t  # circular on purpose: method bodies only use it at call time
from .ops import math as M
from .ops import reduce as R
from .ops.util import normalize_dims

if TYPE_CHECKING:
    from .tensor import Tensor

_py_bool, _py_int, _py_float = builtins.bool, builtins.int, builtins.float


class TensorMathMixin:
    __slots__ = ()

    # ----------------------------------------------------------------- arithmetic
    def __add__(self, other: Any) -> Tensor:
        return M.Add.apply(*_t._promote(self, other))

    def __radd__(self, other: Any) -> Tensor:
        return M.Add.apply(*_t._promote(other, self))

    def __sub__(self, other: Any) -> Tensor:
        return M.Sub.apply(*_t._promote(self, other))

    def __rsub__(self, other: Any) -> Tensor:
        return M.Sub.apply(*_t._promote(other, self))

    def __mul__(self, other: Any) -> Tensor:
        return M.Mul.apply(*_t._promote(self, other))

    def __rmul__(self, other: Any) -> Tensor:
        return M.Mul.apply(*_t._promote(other, self))

    def __truediv__(self, other: Any) -> Tensor:
        return M.Div.apply(*_t._promote(self, other, true_div=True))

    def __rtruediv__(self, other: Any) -> Tensor:
        return M.Div.apply(*_t._promote(other, self, true_div=True))

    def __floordiv__(self, other: Any) -> Tensor:
        a, b = _t._promote(self, other)
        return _t._no_grad_binary(a, b, lambda x, y: x // y)

    def __rfloordiv__(self, other: Any) -> Tensor:
        a, b = _t._promote(other, self)
        return _t._no_grad_binary(a, b, lambda x, y: x // y)

    def __mod__(self, other: Any) -> Tensor:
        return _t._remainder(*_t._promote(self, other))

    def __rmod__(self, other: Any) -> Tensor:
        return _t._remainder(*_t._promote(other, self))

    def __pow__(self, other: Any) -> Tensor:
        return _t._pow(*_t._promote(self, other))

    def __rpow__(self, other: Any) -> Tensor:
        return _t._pow(*_t._promote(other, self))

    def __matmul__(self, other: Any) -> Tensor:
        other = _t._as_tensor_like(other, self)
        _t._check_matmul(self, other)
        return M.MatMul.apply(*_t._promote(self, other))

    def __rmatmul__(self, other: Any) -> Tensor:
        other = _t._as_tensor_like(other, self)
        _t._check_matmul(other, self)
        return M.MatMul.apply(*_t._promote(other, self))

    def __neg__(self) -> Tensor:
        return M.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return self.abs()

    def add(self, other: Any, alpha: Any = 1) -> Tensor:
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other: Any, alpha: Any = 1) -> Tensor:
        return self - (other if alpha == 1 else other * alpha)

    def mul(self, other: Any) -> Tensor:
        return self * other

    def div(self, other: Any) -> Tensor:
        return self / other

    def matmul(self, other: Any) -> Tensor:
        return self @ other

    def pow(self, exponent: Any) -> Tensor:
        return self ** exponent

    # comparisons: no gradient, bool results
    def _compare(self, other: Any, op: Any) -> Tensor:
        if not isinstance(other, _t._OPERAND_TYPES) and not hasattr(other, "dtype"):
            return NotImplemented  # `t == None` is False, as in PyTorch
        a, b = _t._promote(self, other)
        return _t._no_grad_binary(a, b, op)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, lambda x, y: x == y)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, lambda x, y: x != y)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, lambda x, y: x < y)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, lambda x, y: x <= y)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, lambda x, y: x > y)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, lambda x, y: x >= y)

    def eq(self, other: Any) -> Tensor:
        return self == other

    def ne(self, other: Any) -> Tensor:
        return self != other

    def lt(self, other: Any) -> Tensor:
        return self < other

    def le(self, other: Any) -> Tensor:
        return self <= other

    def gt(self, other: Any) -> Tensor:
        return self > other

    def ge(self, other: Any) -> Tensor:
        return self >= other

    def __invert__(self) -> Tensor:
        return _t.Tensor._make(~self._data, self._device)

    def __and__(self, other: Any) -> Tensor:
        return self._compare(other, lambda x, y: x & y)

    def __or__(self, other: Any) -> Tensor:
        return self._compare(other, lambda x, y: x | y)

    def __xor__(self, other: Any) -> Tensor:
        return self._compare(other, lambda x, y: x ^ y)

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def logical_not(self) -> Tensor:
        return _t.Tensor._make(self._device.xp.logical_not(self._data), self._device)

    def any(self, dim: Any = None, keepdim: _py_bool = False) -> Tensor:
        axes = normalize_dims(dim, self.ndim)
        return _t.Tensor._make(self._data.any(axis=axes, keepdims=keepdim), self._device)

    def all(self, dim: Any = None, keepdim: _py_bool = False) -> Tensor:
        axes = normalize_dims(dim, self.ndim)
        return _t.Tensor._make(self._data.all(axis=axes, keepdims=keepdim), self._device)

    def isnan(self) -> Tensor:
        return _t.Tensor._make(self._device.xp.isnan(self._data), self._device)

    def isfinite(self) -> Tensor:
        return _t.Tensor._make(self._device.xp.isfinite(self._data), self._device)

    # ----------------------------------------------------------------- unary math
    def exp(self) -> Tensor:
        return M.Exp.apply(self._floating())

    def log(self) -> Tensor:
        return M.Log.apply(self._floating())

    def sqrt(self) -> Tensor:
        return M.Sqrt.apply(self._floating())

    def rsqrt(self) -> Tensor:
        return M.Rsqrt.apply(self._floating())

    def abs(self) -> Tensor:
        return M.Abs.apply(self)

    def sign(self) -> Tensor:
        return M.Sign.apply(self)

    def sin(self) -> Tensor:
        return M.Sin.apply(self._floating())

    def cos(self) -> Tensor:
        return M.Cos.apply(self._floating())

    def tanh(self) -> Tensor:
        return M.Tanh.apply(self._floating())

    def sigmoid(self) -> Tensor:
        return M.Sigmoid.apply(self._floating())

    def relu(self) -> Tensor:
        return M.Relu.apply(self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        if min is None and max is None:
            raise ValueError("clamp(): at least one of min and max must be given")
        if isinstance(min, _t.Tensor) or isinstance(max, _t.Tensor):
            out = self
            if min is not None:
                out = _t.maximum(out, min)
            if max is not None:
                out = _t.minimum(out, max)
            return out
        t = self
        if t._data.dtype.kind != "f" and (isinstance(min, _py_float) or isinstance(max, _py_float)):
            t = t.to(dtypes.default_float)  # int.clamp(min=0.5) is float32, as in PyTorch
        return M.Clamp.apply(t, min, max)

    clip = clamp

    def maximum(self, other: Tensor) -> Tensor:
        return _t.maximum(self, other)

    def minimum(self, other: Tensor) -> Tensor:
        return _t.minimum(self, other)

    def softmax(self, dim: int) -> Tensor:
        from .nn import functional as F  # noqa: PLC0415

        return F.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        from .nn import functional as F  # noqa: PLC0415

        return F.log_softmax(self, dim)

    def _floating(self) -> Tensor:
        """Math functions on integer tensors compute in float32, as PyTorch does."""
        return self if self._data.dtype.kind == "f" else self.to(dtypes.default_float)

    # ----------------------------------------------------------------- reductions
    def sum(self, dim: Any = None, keepdim: _py_bool = False, dtype: Any = None) -> Tensor:
        t = self if dtype is None else self.to(dtype)
        if t._data.dtype.kind in "biu" and t._data.dtype != dtypes.int64:
            t = t.long()  # integer sums are int64, as in PyTorch (NumPy gives uint64 for uint8)
        return R.Sum.apply(t, normalize_dims(dim, self.ndim), keepdim)

    def mean(self, dim: Any = None, keepdim: _py_bool = False, dtype: Any = None) -> Tensor:
        t = self if dtype is None else self.to(dtype)
        if t._data.dtype.kind != "f":
            raise RuntimeError(
                f"mean(): input dtype must be floating point, got {dtypes.dtype_name(t.dtype)}; "
                f"convert first with .float()"
            )
        return R.Mean.apply(t, normalize_dims(dim, self.ndim), keepdim)

    def var(self, dim: Any = None, unbiased: _py_bool = True, keepdim: _py_bool = False,
            correction: int | None = None) -> Tensor:
        if correction is None:
            correction = 1 if unbiased else 0
        return R.Var.apply(self._floating(), normalize_dims(dim, self.ndim), correction, keepdim)

    def std(self, dim: Any = None, unbiased: _py_bool = True, keepdim: _py_bool = False,
            correction: int | None = None) -> Tensor:
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def prod(self, dim: int | None = None, keepdim: _py_bool = False) -> Tensor:
        axis = None if dim is None else normalize_dims(dim, self.ndim)[0]
        t = self
        if t._data.dtype.kind in "biu" and t._data.dtype != dtypes.int64:
            t = t.long()
        return R.Prod.apply(t, axis, keepdim)

    def logsumexp(self, dim: Any, keepdim: _py_bool = False) -> Tensor:
        return R.LogSumExp.apply(self._floating(), normalize_dims(dim, self.ndim), keepdim)

    def _maxmin(self, dim: Any, keepdim: _py_bool, is_max: _py_bool) -> Any:
        if isinstance(dim, _t.Tensor):
            return _t.maximum(self, dim) if is_max else _t.minimum(self, dim)
        if self._data.size == 0:
            raise RuntimeError(f"{'max' if is_max else 'min'}(): the tensor is empty")
        if dim is None:
            return R.MaxMin.apply(self, None, False, is_max)
        d = normalize_dims(dim, self.ndim)[0]
        values = R.MaxMinDim.apply(self, d, keepdim, is_max)
        indices = self.argmax(d, keepdim) if is_max else self.argmin(d, keepdim)
        return _t.ValuesIndices(values, indices)

    def max(self, dim: Any = None, keepdim: _py_bool = False) -> Any:
        return self._maxmin(dim, keepdim, True)

    def min(self, dim: Any = None, keepdim: _py_bool = False) -> Any:
        return self._maxmin(dim, keepdim, False)

    def amax(self, dim: Any = None, keepdim: _py_bool = False) -> Tensor:
        return R.MaxMin.apply(self, normalize_dims(dim, self.ndim), keepdim, True)

    def amin(self, dim: Any = None, keepdim: _py_bool = False) -> Tensor:
        return R.MaxMin.apply(self, normalize_dims(dim, self.ndim), keepdim, False)

    def argmax(self, dim: int | None = None, keepdim: _py_bool = False) -> Tensor:
        return self._arg(dim, keepdim, True)

    def argmin(self, dim: int | None = None, keepdim: _py_bool = False) -> Tensor:
        return self._arg(dim, keepdim, False)

    def _arg(self, dim: int | None, keepdim: _py_bool, is_max: _py_bool) -> Tensor:
        xp = self._device.xp
        if dim is None:
            flat = self._data.reshape(-1)
            idx = flat.argmax() if is_max else flat.argmin()
            out = xp.asarray(idx, dtype=np.int64)
            if keepdim:
                out = out.reshape((1,) * self.ndim)
            return _t.Tensor._make(out, self._device)
        d = normalize_dims(dim, self.ndim)[0]
        idx = self._data.argmax(axis=d) if is_max else self._data.argmin(axis=d)
        if keepdim:
            idx = xp.expand_dims(idx, d)
        return _t.Tensor._make(idx.astype(np.int64, copy=False), self._device)

