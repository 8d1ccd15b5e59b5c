"""The rest of PyTorch's Tensor methods (a mixin of ``engine.tensor.Tensor``): selection along a
dimension (gather, scatter, sort, topk...), cumulative and triangular ops, products
(``mm``/``bmm``/``dot``/``addmm``), norms, more elementwise math and the in-place forms, the
``new_*`` constructors, ``type()`` and the small queries (``stride``, ``allclose``...).
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

from . import dtypes
from . import tensor as _t  # circular on purpose: method bodies only use it at call time
from .ops import index as I
from .ops import linalg as LA
from .ops import math as M
from .ops.util import normalize_dims

if TYPE_CHECKING:
    from .tensor import Tensor

_py_bool, _py_int, _py_float = builtins.bool, builtins.int, builtins.float

# Legacy type names (``x.type()``, ``torch.FloatTensor``) by dtype name.
TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
              "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor",
              "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
              "bool": "BoolTensor"}
_DTYPE_OF_TYPE = {v: k for k, v in TYPE_NAMES.items()}


def _dim(t: Tensor, dim: int) -> int:
    return normalize_dims(dim, t.ndim)[0]


def _index_array(t: Tensor, index: Any, name: str) -> Any:
    """An index argument (Tensor or sequence) as an int64 array on ``t``'s device."""
    if isinstance(index, _t.Tensor):
        if index._data.dtype.kind not in "iu":
            raise RuntimeError(f"{name}(): Expected dtype int64 for index, got "
                               f"{dtypes.dtype_name(index._data.dtype)}; convert with .long()")
        arr = index.to(t.device)._data
    else:
        arr = t._device.xp.asarray(index, dtype=np.int64)
    return arr


class TensorAPIMixin:
    __slots__ = ()

    # ----------------------------------------------------------------- construction
    def new_tensor(self, data: Any, dtype: Any = None, device: Any = None,
                   requires_grad: _py_bool = False) -> Tensor:
        """A new tensor from ``data`` with this one's dtype and device unless given."""
        return _t.tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                         requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: _py_bool = False) -> Tensor:
        return self.new_full(_t._shape_arg(size), 0, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: _py_bool = False) -> Tensor:
        return self.new_full(_t._shape_arg(size), 1, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: _py_bool = False) -> Tensor:
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
                 requires_grad: _py_bool = False) -> Tensor:
        from .creation import full  # noqa: PLC0415

        return full(tuple(size), fill_value, dtype=dtype or self.dtype,
                    device=device or self.device, requires_grad=requires_grad)

    def type(self, dtype: Any = None, non_blocking: _py_bool = False) -> Any:
        """Without an argument the legacy type name (``'torch.FloatTensor'``, as PyTorch code
        compares it); with one (a dtype, a name or a legacy type) the converted tensor."""
        name = dtypes.dtype_name(self._data.dtype)
        if dtype is None:
            cuda = ".cuda" if self.is_cuda else ""
            return f"torch{cuda}.{TYPE_NAMES.get(name, name)}"
        if isinstance(dtype, str):
            last = dtype.rsplit(".", 1)[-1]
            if last in _DTYPE_OF_TYPE:
                out = self.to(dtypes.as_dtype(_DTYPE_OF_TYPE[last]))
                return out.cuda() if ".cuda." in dtype else out
            return self.to(dtypes.as_dtype(dtype))
        legacy = getattr(dtype, "legacy_dtype", None)
        if legacy is not None:
            out = self.to(legacy)
            return out.cuda() if getattr(dtype, "is_cuda", False) else out
        return self.to(dtype)

    # ----------------------------------------------------------------- queries
    def stride(self, dim: int | None = None) -> Any:
        """Steps in elements between neighbours along each dimension (0 where broadcast)."""
        item = self._data.dtype.itemsize
        strides = tuple(s // item for s in self._data.strides)
        return strides if dim is None else strides[_dim(self, dim)]

    @property
    def mT(self) -> Tensor:  # noqa: N802 - PyTorch's name
        return self.transpose(-2, -1)

    def allclose(self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
                 equal_nan: _py_bool = False) -> _py_bool:
        a, b = _t._promote(self, other)
        return _py_bool(a._device.xp.allclose(a._data, b._data, rtol=rtol, atol=atol,
                                              equal_nan=equal_nan))

    def isclose(self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
                equal_nan: _py_bool = False) -> Tensor:
        a, b = _t._promote(self, other)
        return _t.Tensor._make(a._device.xp.isclose(a._data, b._data, rtol=rtol, atol=atol,
                                                    equal_nan=equal_nan), a._device)

    def equal(self, other: Tensor) -> _py_bool:
        """True when shapes and every value agree (PyTorch's ``torch.equal``)."""
        if tuple(self.shape) != tuple(other.shape):
            return False
        return _py_bool((self == other).all().item())

    def isinf(self) -> Tensor:
        return _t.Tensor._make(self._device.xp.isinf(self._data), self._device)

    def isneginf(self) -> Tensor:
        return _t.Tensor._make(self._device.xp.isneginf(self._data), self._device)

    def isposinf(self) -> Tensor:
        return _t.Tensor._make(self._device.xp.isposinf(self._data), self._device)

    def count_nonzero(self, dim: Any = None) -> Tensor:
        axes = normalize_dims(dim, self.ndim)
        out = self._device.xp.count_nonzero(self._data, axis=axes)
        return _t.Tensor._make(self._device.xp.asarray(out, dtype=np.int64), self._device)

    def nonzero(self, as_tuple: _py_bool = False) -> Any:
        """Indices of the nonzero elements: one row per element (``as_tuple``: one tensor per
        dimension)."""
        idx = self._device.xp.nonzero(self._data if self.ndim else self._data.reshape(1))
        parts = [_t.Tensor._make(i.astype(np.int64), self._device) for i in idx]
        if as_tuple:
            return tuple(parts)
        return _t.Tensor._make(self._device.xp.stack(idx, axis=1).astype(np.int64)
                               if idx else self._device.xp.zeros((0, 0), np.int64), self._device)

    def argwhere(self) -> Tensor:
        return self.nonzero()

    def unique(self, sorted: _py_bool = True, return_inverse: _py_bool = False,  # noqa: A002
               return_counts: _py_bool = False, dim: int | None = None) -> Any:
        xp = self._device.xp
        res = xp.unique(self._data, return_inverse=True, return_counts=True, axis=dim)
        vals, inverse, counts = res
        out = [_t.Tensor._make(vals, self._device)]
        if return_inverse:
            shape = self.shape if dim is None else (self.shape[dim],)
            out.append(_t.Tensor._make(inverse.reshape(shape).astype(np.int64), self._device))
        if return_counts:
            out.append(_t.Tensor._make(counts.astype(np.int64), self._device))
        return out[0] if len(out) == 1 else tuple(out)

    def bincount(self, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
        if self.ndim != 1 or self._data.dtype.kind not in "iu":
            raise RuntimeError("bincount only supports 1-d non-negative integral inputs")
        w = None if weights is None else weights._data
        out = self._device.xp.bincount(self._data, weights=w, minlength=minlength)
        if w is None:
            out = out.astype(np.int64)
        elif weights._data.dtype == np.float32:
            out = out.astype(np.float32)
        return _t.Tensor._make(out, self._device)

    def histc(self, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
        xp = self._device.xp
        data = self._data
        lo, hi = (float(data.min()), float(data.max())) if min == max else (min, max)
        if lo == hi:
            lo, hi = lo - 1, hi + 1
        inside = data[(data >= lo) & (data <= hi)]
        counts, _ = xp.histogram(inside, bins=bins, range=(lo, hi))
        return _t.Tensor._make(counts.astype(self._data.dtype), self._device)

    # ----------------------------------------------------------------- products
    def mm(self, mat2: Tensor) -> Tensor:
        if self.ndim != 2 or mat2.ndim != 2:
            raise RuntimeError(f"mm(): both arguments must be matrices (2-D), got shapes "
                               f"{tuple(self.shape)} and {tuple(mat2.shape)}; use matmul for "
                               f"batches")
        return self @ mat2

    def bmm(self, mat2: Tensor) -> Tensor:
        if self.ndim != 3 or mat2.ndim != 3 or self.shape[0] != mat2.shape[0]:
            raise RuntimeError(f"bmm(): expected two 3-D tensors with the same batch size, got "
                               f"shapes {tuple(self.shape)} and {tuple(mat2.shape)}")
        return self @ mat2

    def dot(self, other: Tensor) -> Tensor:
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"dot(): 1D tensors expected, but got {self.ndim}D and "
                               f"{other.ndim}D tensors")
        if self.shape != other.shape:
            raise RuntimeError(f"dot(): inconsistent tensor size, expected tensor [{self.shape[0]}]"
                               f" and src [{other.shape[0]}] to have the same number of elements")
        return self @ other

    def mv(self, vec: Tensor) -> Tensor:
        return self @ vec

    def outer(self, vec2: Tensor) -> Tensor:
        return self.reshape(-1, 1) * vec2.reshape(1, -1)

    def addmm(self, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        prod = mat1.mm(mat2)
        return (self if beta == 1 else self * beta) + (prod if alpha == 1 else prod * alpha)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: _py_bool = False,
             dtype: Any = None) -> Tensor:
        """The vector p-norm over ``dim`` (all elements by default; ``'fro'`` is p = 2)."""
        t = self._floating() if dtype is None else self.to(dtype)
        if p == "fro" or p is None:
            p = 2
        if p == "nuc":
            raise NotImplementedError("norm(p='nuc') needs an SVD, which the engine does not have")
        axes = normalize_dims(dim, t.ndim)
        if p in (float("inf"), float("-inf")):
            a = t.abs()
            return a.amax(axes, keepdim) if p > 0 else a.amin(axes, keepdim)
        if p == 0:
            return (t != 0).to(t.dtype).sum(axes, keepdim)
        return LA.Norm.apply(t, _py_float(p), axes, keepdim)

    # ----------------------------------------------------------------- selection
    def narrow(self, dim: int, start: Any, length: int) -> Tensor:
        d = _dim(self, dim)
        start = _py_int(start)
        if start < 0:
            start += self.shape[d]
        if not 0 <= start <= start + length <= self.shape[d]:
            raise IndexError(f"narrow(): start ({start}) + length ({length}) exceeds dimension "
                             f"{dim} of size {self.shape[d]}")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        d = _dim(self, dim)
        return tuple(self[(slice(None),) * d + (i,)] for i in range(self.shape[d]))

    def index_select(self, dim: int, index: Any) -> Tensor:
        d = _dim(self, dim)
        idx = _index_array(self, index, "index_select")
        if idx.ndim > 1:
            raise IndexError("index_select(): index must be 1-D (or a scalar)")
        return self[(slice(None),) * d + (idx.reshape(-1),)]

    def gather(self, dim: int, index: Tensor) -> Tensor:
        d = _dim(self, dim)
        idx = _index_array(self, index, "gather")
        if idx.ndim != self.ndim:
            raise RuntimeError(f"gather(): index has {idx.ndim} dimensions but the input has "
                               f"{self.ndim}; they must have the same number")
        return I.Gather.apply(self, d, idx)

    def _scatter(self, dim: int, index: Tensor, src: Any, add: _py_bool, name: str) -> Tensor:
        d = _dim(self, dim)
        idx = _index_array(self, index, name)
        if isinstance(src, _t.Tensor):
            src = src.to(self.dtype) if src.dtype != self.dtype else src
        return I.Scatter.apply(self, d, idx, src, add)

    def scatter(self, dim: int, index: Tensor, src: Any = None, value: Any = None,
                reduce: str | None = None) -> Tensor:
        if src is None:
            src = value
        if reduce not in (None, "add"):
            raise NotImplementedError(f"scatter(reduce={reduce!r}): only 'add' is supported")
        return self._scatter(dim, index, src, reduce == "add", "scatter")

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return self._scatter(dim, index, src, True, "scatter_add")

    def scatter_(self, dim: int, index: Tensor, src: Any = None, value: Any = None,
                 reduce: str | None = None) -> Tensor:
        return self._inplace_apply(lambda x: x.scatter(dim, index, src, value, reduce), "scatter_")

    def scatter_add_(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return self._inplace_apply(lambda x: x.scatter_add(dim, index, src), "scatter_add_")

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        if mask._data.dtype != np.bool_:
            raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with "
                               f"dtype {dtypes.dtype_name(mask._data.dtype)}; use mask.bool()")
        if not isinstance(value, _t.Tensor):
            value = _t.tensor(value, dtype=self.dtype, device=self.device)
        elif value.dtype != self.dtype:
            value = value.to(self.dtype)
        return M.Where.apply(mask._data, value, self)

    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        return self._inplace_apply(lambda x: x.masked_fill(mask, value), "masked_fill_")

    def masked_select(self, mask: Tensor) -> Tensor:
        xp = self._device.xp
        shape = np.broadcast_shapes(tuple(self.shape), tuple(mask.shape))
        x = self.expand(shape) if tuple(self.shape) != shape else self
        return x[xp.broadcast_to(mask._data.astype(bool), shape)]

    def sort(self, dim: int = -1, descending: _py_bool = False,
             stable: _py_bool = False) -> Any:
        idx = self.argsort(dim, descending)
        return _t.ValuesIndices(self.gather(dim, idx), idx)

    def argsort(self, dim: int = -1, descending: _py_bool = False,
                stable: _py_bool = False) -> Tensor:
        d = _dim(self, dim) if self.ndim else 0
        data = self._data if self.ndim else self._data.reshape(1)
        xp = self._device.xp
        if descending:  # stable among ties, as PyTorch's stable descending sort
            rev = xp.flip(data, d)
            idx = data.shape[d] - 1 - xp.flip(xp.argsort(rev, axis=d, kind="stable"), d)
        else:
            idx = xp.argsort(data, axis=d, kind="stable")
        return _t.Tensor._make(idx.astype(np.int64).reshape(self.shape), self._device)

    def topk(self, k: int, dim: int = -1, largest: _py_bool = True,
             sorted: _py_bool = True) -> Any:  # noqa: A002
        d = _dim(self, dim)
        if not 0 <= k <= self.shape[d]:
            raise RuntimeError(f"topk(): k ({k}) is out of range for dimension {dim} of size "
                               f"{self.shape[d]}")
        idx = self.argsort(d, descending=largest).narrow(d, 0, k)
        return _t.ValuesIndices(self.gather(d, idx), idx)

    def kthvalue(self, k: int, dim: int = -1, keepdim: _py_bool = False) -> Any:
        values, idx = self.sort(dim)
        d = _dim(self, dim)
        v, i = values.narrow(d, k - 1, 1), idx.narrow(d, k - 1, 1)
        return _t.ValuesIndices(v if keepdim else v.squeeze(d), i if keepdim else i.squeeze(d))

    # ----------------------------------------------------------------- running and shaped ops
    def cumsum(self, dim: int, dtype: Any = None) -> Tensor:
        t = self if dtype is None else self.to(dtype)
        if t._data.dtype.kind in "biu" and t._data.dtype != np.int64:
            t = t.long()  # as PyTorch: integer running sums are int64
        return I.Cumsum.apply(t, _dim(self, dim))

    def cumprod(self, dim: int, dtype: Any = None) -> Tensor:
        t = self if dtype is None else self.to(dtype)
        if t._data.dtype.kind in "biu" and t._data.dtype != np.int64:
            t = t.long()
        return I.Cumprod.apply(t, _dim(self, dim))

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        if dims is None:
            return I.Roll.apply(self.flatten(), shifts, 0).reshape(self.shape)
        if isinstance(shifts, int):
            shifts, dims = (shifts,), (dims,) if isinstance(dims, int) else tuple(dims)
        dims = tuple(_dim(self, d) for d in dims)
        return I.Roll.apply(self, tuple(shifts), dims)

    def flip(self, *dims: Any) -> Tensor:
        dims = _t._shape_arg(dims)
        return I.Flip.apply(self, tuple(_dim(self, d) for d in dims))

    def fliplr(self) -> Tensor:
        return self.flip(1)

    def flipud(self) -> Tensor:
        return self.flip(0)

    def tril(self, diagonal: int = 0) -> Tensor:
        return I.Triangle.apply(self, diagonal, False)

    def triu(self, diagonal: int = 0) -> Tensor:
        return I.Triangle.apply(self, diagonal, True)

    def tril_(self, diagonal: int = 0) -> Tensor:
        return self._inplace_apply(lambda x: x.tril(diagonal), "tril_")

    def triu_(self, diagonal: int = 0) -> Tensor:
        return self._inplace_apply(lambda x: x.triu(diagonal), "triu_")

    def diag(self, diagonal: int = 0) -> Tensor:
        if self.ndim not in (1, 2):
            raise RuntimeError(f"diag(): expected a 1-D or 2-D tensor, got {self.ndim}-D")
        return I.Diag.apply(self, diagonal)

    def trace(self) -> Tensor:
        if self.ndim != 2:
            raise RuntimeError(f"trace(): expected a matrix, got a {self.ndim}-D tensor")
        return self.diag().sum()

    # ----------------------------------------------------------------- elementwise
    def neg(self) -> Tensor:
        return -self

    negative = neg

    def square(self) -> Tensor:
        return self * self

    def reciprocal(self) -> Tensor:
        return M.Reciprocal.apply(self._floating())

    def log1p(self) -> Tensor:
        return M.Log1p.apply(self._floating())

    def expm1(self) -> Tensor:
        return M.Expm1.apply(self._floating())

    def erf(self) -> Tensor:
        return M.Erf.apply(self._floating())

    def log2(self) -> Tensor:
        return self.log() * (1 / np.log(2))

    def log10(self) -> Tensor:
        return self.log() * (1 / np.log(10))

    def _rounding(self, op: Any, *args: Any) -> Tensor:
        if self._data.dtype.kind != "f":
            return self.clone()
        return op.apply(self, *args)

    def floor(self) -> Tensor:
        return self._rounding(M.Floor)

    def ceil(self) -> Tensor:
        return self._rounding(M.Ceil)

    def trunc(self) -> Tensor:
        return self._rounding(M.Trunc)

    def round(self, decimals: int = 0) -> Tensor:
        return self._rounding(M.Round, decimals) if decimals else self._rounding(M.Round)

    def frac(self) -> Tensor:
        return self - self.trunc()

    def clamp_min(self, min: Any) -> Tensor:  # noqa: A002
        return self.clamp(min=min)

    def clamp_max(self, max: Any) -> Tensor:  # noqa: A002
        return self.clamp(max=max)

    def lerp(self, end: Tensor, weight: Any) -> Tensor:
        return self + weight * (end - self)

    def subtract(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return self.sub(other, alpha)

    def multiply(self, other: Any) -> Tensor:
        return self * other

    def divide(self, other: Any) -> Tensor:
        return self / other

    true_divide = divide

    def floor_divide(self, other: Any) -> Tensor:
        return self // other

    def remainder(self, other: Any) -> Tensor:
        return self % other

    def fmod(self, other: Any) -> Tensor:
        """C's remainder: the result takes the dividend's sign (``remainder`` the divisor's)."""
        return self - (self / other).trunc().detach() * other if self.is_floating_point() else \
            _t._no_grad_binary(self, other, lambda x, y: self._device.xp.fmod(x, y))

    def repeat_interleave(self, repeats: Any, dim: int | None = None) -> Tensor:
        t = self.flatten() if dim is None else self
        d = 0 if dim is None else _dim(self, dim)
        reps = repeats.cpu()._data if isinstance(repeats, _t.Tensor) else repeats
        idx = np.repeat(np.arange(t.shape[d]), reps)
        return t.index_select(d, _t.Tensor._make(idx.astype(np.int64), None))

    def addcmul(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        return self + value * tensor1 * tensor2

    def addcdiv(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        return self + value * tensor1 / tensor2

    # ------------------------------------------------------- in place (see _inplace_apply)
    def exp_(self) -> Tensor:
        return self._inplace_apply(lambda x: x.exp(), "exp_")

    def log_(self) -> Tensor:
        return self._inplace_apply(lambda x: x.log(), "log_")

    def sqrt_(self) -> Tensor:
        return self._inplace_apply(lambda x: x.sqrt(), "sqrt_")

    def abs_(self) -> Tensor:
        return self._inplace_apply(lambda x: x.abs(), "abs_")

    def neg_(self) -> Tensor:
        return self._inplace_apply(lambda x: -x, "neg_")

    def pow_(self, exponent: Any) -> Tensor:
        return self._inplace_apply(lambda x: x ** exponent, "pow_")

    def sigmoid_(self) -> Tensor:
        return self._inplace_apply(lambda x: x.sigmoid(), "sigmoid_")

    def tanh_(self) -> Tensor:
        return self._inplace_apply(lambda x: x.tanh(), "tanh_")

    def floor_(self) -> Tensor:
        return self._inplace_apply(lambda x: x.floor(), "floor_")

    def round_(self, decimals: int = 0) -> Tensor:
        return self._inplace_apply(lambda x: x.round(decimals), "round_")

    def reciprocal_(self) -> Tensor:
        return self._inplace_apply(lambda x: x.reciprocal(), "reciprocal_")

    def square_(self) -> Tensor:
        return self._inplace_apply(lambda x: x.square(), "square_")

    def clamp_min_(self, min: Any) -> Tensor:  # noqa: A002
        return self.clamp_(min=min)

    def clamp_max_(self, max: Any) -> Tensor:  # noqa: A002
        return self.clamp_(max=max)

    def lerp_(self, end: Tensor, weight: Any) -> Tensor:
        return self._inplace_apply(lambda x: x.lerp(end, weight), "lerp_")

    def addcmul_(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        return self._inplace_apply(lambda x: x.addcmul(tensor1, tensor2, value=value), "addcmul_")

    def addcdiv_(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        return self._inplace_apply(lambda x: x.addcdiv(tensor1, tensor2, value=value), "addcdiv_")

    def bernoulli_(self, p: Any = 0.5, *, generator: Any = None) -> Tensor:
        from . import random  # noqa: PLC0415

        u = random.uniform(tuple(self.shape), 0.0, 1.0, np.dtype(np.float64), self._device,
                           generator)
        prob = p._data if isinstance(p, _t.Tensor) else p
        self._check_leaf_inplace("bernoulli_")
        self._data[...] = (u < prob)
        self._vc.value += 1
        return self
