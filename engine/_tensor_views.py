"""Tensor methods that reshape, index and write in place (a mixin of ``engine.tensor.Tensor``,
split out only to keep each module readable)."""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import dtypes, random
from . import tensor as _t  # circular on purpose: method bodies only use it at call time
from .autograd.grad_mode import is_grad_enabled
from .ops import math as M
from .ops import shape as S
from .ops.util import normalize_dims

if TYPE_CHECKING:
    from .tensor import Tensor

_py_bool, _py_int, _py_float = builtins.bool, builtins.int, builtins.float


class TensorViewMixin:
    __slots__ = ()

    # ----------------------------------------------------------------- shape
    def _view_op(self, fn: Any, *args: Any) -> Tensor:
        """Apply a shape op whose result may share memory with ``self`` (reshape, permute, basic
        indexing...). When it truly does, the two share a version counter, and the node is
        marked so an in-place change of the view is refused while recording (see
        ``_check_leaf_inplace``): its gradient could not reach the tensor it views."""
        out = fn.apply(self, *args)
        if out._data.base is not None and _t._memory_root(out._data) is _t._memory_root(self._data):
            out._vc = self._vc
            if out.grad_fn is not None:
                out.grad_fn.is_view = True
        return out

    def reshape(self, *shape: Any) -> Tensor:
        shape = _t._shape_arg(shape)
        if tuple(shape) == self.shape:
            return self
        try:
            return self._view_op(S.Reshape, shape)
        except ValueError:
            raise RuntimeError(
                f"shape {tuple(shape)} is invalid for a tensor of {self.numel()} elements "
                f"(shape {tuple(self.shape)})"
            ) from None

    def view(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and not isinstance(shape[0], int | tuple | list):
            return self.to(shape[0])  # view(dtype)
        return self.reshape(*shape)

    def view_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        s = start_dim % self.ndim
        e = end_dim % self.ndim
        if s > e:
            raise ValueError(f"flatten(): start_dim {start_dim} comes after end_dim {end_dim}")
        shape = self.shape[:s] + (math.prod(self.shape[s:e + 1]),) + self.shape[e + 1:]
        return self.reshape(shape)

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        d = dim % self.ndim
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1:])

    def permute(self, *dims: Any) -> Tensor:
        dims = _t._shape_arg(dims)
        if len(dims) != self.ndim:
            raise RuntimeError(
                f"permute(): got {len(dims)} dims for a tensor with {self.ndim} dimensions"
            )
        axes = tuple(d % max(self.ndim, 1) for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise RuntimeError(f"permute(): dims {tuple(dims)} repeat or skip a dimension")
        return self._view_op(S.Permute, axes)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        if self.ndim < 2:
            return self
        axes = list(range(self.ndim))
        d0, d1 = normalize_dims(dim0, self.ndim)[0], normalize_dims(dim1, self.ndim)[0]
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return self._view_op(S.Permute, tuple(axes))

    def t(self) -> Tensor:
        return self.transpose(0, 1)

    @property
    def T(self) -> Tensor:  # noqa: N802
        return self._view_op(S.Permute, tuple(reversed(range(self.ndim))))

    def squeeze(self, dim: Any = None) -> Tensor:
        if dim is None:
            shape = tuple(s for s in self.shape if s != 1)
        else:
            dims = normalize_dims(dim, self.ndim)
            shape = tuple(s for i, s in enumerate(self.shape) if not (i in dims and s == 1))
        return self.reshape(shape)

    def unsqueeze(self, dim: int) -> Tensor:
        d = dim if dim >= 0 else dim + self.ndim + 1
        if not 0 <= d <= self.ndim:
            raise IndexError(
                f"unsqueeze(): dim {dim} out of range for a tensor with {self.ndim} dimensions "
                f"(expected {-self.ndim - 1}..{self.ndim})"
            )
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def expand(self, *sizes: Any) -> Tensor:
        sizes = _t._shape_arg(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise RuntimeError(
                f"expand(): the number of sizes ({len(sizes)}) must be >= the tensor's dimensions "
                f"({self.ndim})"
            )
        shape = []
        for i, s in enumerate(sizes):
            own = self.shape[i - lead] if i >= lead else 1
            if s == -1:
                if i < lead:
                    raise RuntimeError("expand(): -1 is not allowed for a new leading dimension")
                s = own
            if own != 1 and own != s:
                raise RuntimeError(
                    f"expand(): size {own} of dimension {i - lead} cannot be expanded to {s} "
                    f"(only size-1 dimensions expand); shape {tuple(self.shape)} -> "
                    f"{tuple(sizes)}"
                )
            shape.append(s)
        return self._view_op(S.Expand, tuple(shape))

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def repeat(self, *sizes: Any) -> Tensor:
        sizes = _t._shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(
                f"repeat(): {len(sizes)} repeat counts given for a tensor with {self.ndim} "
                f"dimensions; give at least {self.ndim}"
            )
        return S.Repeat.apply(self, tuple(sizes))

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        d = normalize_dims(dim, self.ndim)[0]
        n = self.shape[d]
        if isinstance(split_size_or_sections, int):
            step = split_size_or_sections
            if step <= 0:
                raise ValueError(f"split(): split_size must be positive, got {step}")
            sizes = [min(step, n - i) for i in range(0, n, step)]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise ValueError(
                    f"split(): sections {sizes} sum to {sum(sizes)} but dimension {dim} has "
                    f"size {n}"
                )
        out = []
        start = 0
        for size in sizes:
            idx = (slice(None),) * d + (slice(start, start + size),)
            out.append(self[idx])
            start += size
        return tuple(out)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        if chunks <= 0:
            raise ValueError(f"chunk(): chunks must be positive, got {chunks}")
        n = self.shape[normalize_dims(dim, self.ndim)[0]]
        return self.split(max(1, -(-n // chunks)), dim)

    def where(self, condition: Tensor, other: Any) -> Tensor:
        return _t.where(condition, self, other)

    # ----------------------------------------------------------------- indexing
    def __getitem__(self, idx: Any) -> Tensor:
        idx = _t._index_arg(idx, self._device)
        if S.is_basic_index(idx):
            return self._view_op(S.Index, idx)
        return S.Index.apply(self, idx)

    def __setitem__(self, idx: Any, value: Any) -> None:
        idx = _t._index_arg(idx, self._device)
        if isinstance(value, _t.Tensor):
            if value._device is not self._device:
                _t._mixed(self, value, "__setitem__")
            if value.dtype != self.dtype:
                value = value.to(self.dtype)
        if _t._tracking(self, value):
            self._inplace(S.IndexPut, idx, value, name="__setitem__")
        else:
            self._data[idx] = value._data if isinstance(value, _t.Tensor) else value
            self._vc.value += 1

    # ----------------------------------------------------------------- in-place
    def _check_leaf_inplace(self, name: str) -> None:
        """Refuse in-place writes autograd can't follow: into a leaf that requires grad, or,
        while recording, into a view of a tensor that requires grad."""
        fn = self.grad_fn
        if fn is None:
            if self.requires_grad and is_grad_enabled():
                raise RuntimeError(
                    f"{name}: a leaf tensor that requires grad is being used in an in-place "
                    f"operation. Fix: wrap the update in `with engine.no_grad():` (as optimizers "
                    f"do), or use the out-of-place form"
                )
        elif is_grad_enabled() and fn.__dict__.get("is_view"):
            src = fn.next[0] if fn.next else None
            if isinstance(src, _t.Tensor):
                raise RuntimeError(
                    f"{name}: a view of a leaf tensor that requires grad is being used in an "
                    f"in-place operation. Fix: wrap the update in `with engine.no_grad():`, or "
                    f"use the out-of-place form"
                )
            raise RuntimeError(
                f"{name}: in-place change of a view (made by {fn.name}) of a tensor that "
                f"requires grad; the gradient of the tensor it views would miss the change. "
                f"Fix: write through that tensor itself (t[idx] = value), or .clone() the view "
                f"before changing it"
            )

    def _inplace(self, fn: Any, *args: Any, name: str) -> Tensor:
        """``fn.apply(self, *args)`` written back into this tensor (see ``_inplace_apply``);
        the snapshot is copied only when the op's backward keeps its first input (relu_, add_,
        clamp_ don't)."""
        return self._inplace_apply(lambda x: fn.apply(x, *args), name, copy=0 in fn.saves)

    def _inplace_apply(self, fn: Any, name: str, copy: _py_bool = True) -> Tensor:
        """Make ``fn(x)``, computed out of place, this tensor's value and, while recording, its
        node, so later backward passes see the modified value. While recording, ``fn`` reads a
        snapshot (a copy when ``copy``): an op may keep its input for backward, and the write
        below must not change what it kept."""
        src = self
        if _t._tracking(self):
            self._check_leaf_inplace(name)
            data = self._data.copy() if copy else self._data
            src = _t.Tensor._make(data, self._device, self.requires_grad, self.grad_fn)
        out = fn(src)
        if src is self and out.grad_fn is not None:  # another operand brought in the graph
            self._check_leaf_inplace(name)
        if out._data is not self._data:  # ops that can write their result in place (Relu) did
            self._device.xp.copyto(self._data, out._data, casting="unsafe")
        if out.grad_fn is not None:
            self.grad_fn = out.grad_fn
            self.requires_grad = True
        self._vc.value += 1
        return self

    def _inplace_binary(self, other: Any, fn: Any, ufunc_name: str, name: str) -> Tensor:
        if isinstance(other, _t.Tensor) and other._device is not self._device:
            _t._mixed(self, other, name)
        if _t._tracking(self, other):  # self is float here unless `other` requires grad
            if self._data.dtype.kind != "f":
                raise RuntimeError(
                    f"{name}: result type float can't be cast to the integer tensor's dtype "
                    f"{dtypes.dtype_name(self.dtype)}; convert it first with .float()"
                )
            if not isinstance(other, _t.Tensor):
                other = _t._promote(self, other)[1]  # numbers stay weak, lists become tensors
            if isinstance(other, _t.Tensor) and other._data.dtype != self._data.dtype:
                other = other.to(self._data.dtype)  # the result keeps self's dtype, as in PyTorch
            return self._inplace(fn, other, name=name)
        xp = self._device.xp
        b = other._data if isinstance(other, _t.Tensor) else other
        ufunc = getattr(xp, ufunc_name)
        if self._data.dtype.kind in "iub" and (
                ufunc_name == "true_divide" or isinstance(b, float)
                or (hasattr(b, "dtype") and b.dtype.kind == "f")):
            raise RuntimeError(
                f"{name}: result type float can't be cast to the integer tensor's dtype "
                f"{dtypes.dtype_name(self.dtype)}; convert it first with .float()"
            )
        ufunc(self._data, b, out=self._data, casting="unsafe")
        self._vc.value += 1
        return self

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        if alpha != 1:
            other = other * alpha
        return self._inplace_binary(other, M.Add, "add", "add_")

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        if alpha != 1:
            other = other * alpha
        return self._inplace_binary(other, M.Sub, "subtract", "sub_")

    def mul_(self, other: Any) -> Tensor:
        return self._inplace_binary(other, M.Mul, "multiply", "mul_")

    def div_(self, other: Any) -> Tensor:
        return self._inplace_binary(other, M.Div, "true_divide", "div_")

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        self._check_leaf_inplace("fill_")
        if isinstance(value, _t.Tensor):
            value = value.item()
        self._data[...] = value
        if self.grad_fn is not None:  # the old history no longer produces this value
            self.grad_fn = None
            self.requires_grad = False
        self._vc.value += 1
        return self

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        if _t._tracking(self):
            return self._inplace(M.Clamp, min, max, name="clamp_")
        self._device.xp.clip(self._data, min, max, out=self._data)
        self._vc.value += 1
        return self

    def copy_(self, src: Any) -> Tensor:
        src_t = src if isinstance(src, _t.Tensor) else _t.tensor(src, device=self._device)
        if src_t._device is not self._device:
            src_t = src_t.to(self._device)
        if _t._tracking(self, src_t):
            self._check_leaf_inplace("copy_")
            out = (src_t.to(self.dtype) + 0 * self.detach()).expand(self.shape)
            self._device.xp.copyto(self._data, out._data)
            self.grad_fn = out.grad_fn
            self.requires_grad = out.requires_grad
        else:
            self._device.xp.copyto(self._data, src_t._data, casting="unsafe")
        self._vc.value += 1
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        self._check_leaf_inplace("uniform_")
        self._data[...] = random.uniform(self.shape, a, b, self.dtype, self._device)
        self._vc.value += 1
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        self._check_leaf_inplace("normal_")
        self._data[...] = random.normal(self.shape, mean, std, self.dtype, self._device)
        self._vc.value += 1
        return self
