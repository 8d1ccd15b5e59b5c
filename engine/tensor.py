"""The Tensor: a NumPy or CuPy array plus what autograd needs (``requires_grad``, ``grad``,
``grad_fn`` and a version counter shared with views). Every op is a ``Function`` from
``engine.ops``; this module only binds them to PyTorch's method names and applies PyTorch's type
promotion rules before calling them.
"""

from __future__ import annotations

import builtins
from collections import namedtuple
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import dtypes
from ._backend import CPU, Device, device_of_array, get_device, to_device_array
from ._printing import tensor_repr
from ._tensor_api import TensorAPIMixin
from ._tensor_autograd import TensorAutogradMixin
from ._tensor_math import TensorMathMixin
from ._tensor_views import TensorViewMixin
from .autograd.function import VersionCounter, register_tensor_class
from .autograd.grad_mode import is_grad_enabled
from .ops import math as M
from .ops import shape as S
from .size import Size

_py_bool, _py_int, _py_float = builtins.bool, builtins.int, builtins.float
_ndarray = np.ndarray
_new_object = object.__new__
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])

# Ops whose output is a view of their input share its version counter (in-place writes through
# either are seen by both).
_VIEW_OPS = (S.Reshape, S.Permute, S.Expand)


def _category(dt: np.dtype) -> int:
    return 2 if dt.kind == "f" else (0 if dt.kind == "b" else 1)


class Tensor(TensorAutogradMixin, TensorAPIMixin, TensorMathMixin, TensorViewMixin):
    """An n-dimensional array that can record the operations applied to it.

    Construct with ``engine.tensor(data)``. Like ``torch.Tensor``, ``Tensor(data)`` gives the
    default float dtype, and ``Tensor(2, 3)`` (sizes) a new tensor of that shape.
    """

    __slots__ = ("_data", "requires_grad", "_grad", "grad_fn", "_device", "_vc", "_hooks",
                 "__weakref__")
    __array_priority__ = 1000  # so ndarray <op> Tensor defers to Tensor's reflected ops

    def __init__(self, *args: Any, device: Any = None, dtype: Any = None) -> None:
        dev = get_device(device)
        dt = dtypes.as_dtype(dtype)
        if args and all(isinstance(a, _py_int) and not isinstance(a, _py_bool) for a in args) \
                or (len(args) == 1 and isinstance(args[0], Size)):
            arr = np.zeros(_shape_arg(args), dtype=dt)  # sizes: PyTorch leaves it uninitialised
        elif len(args) > 1:
            raise TypeError(f"Tensor(): give sizes (ints) or one sequence of data, got {args!r}")
        else:
            arr = np.asarray([] if not args else _unwrap(args[0]), dtype=dt)
        self._data = to_device_array(arr, dev)
        self.requires_grad = False
        self._grad = None
        self.grad_fn = None
        self._device = dev
        self._vc = VersionCounter()
        self._hooks = None

    @classmethod
    def _make(cls, data: Any, device: Device | None, requires_grad: _py_bool = False,
              grad_fn: Any = None) -> Tensor:
        t = _new_object(cls)
        if type(data) is not _ndarray and (not hasattr(data, "dtype")
                                           or isinstance(data, np.generic)):
            data = np.asarray(data)  # NumPy reductions give scalars; keep 0-d arrays instead
        t._data = data
        t.requires_grad = requires_grad
        t._grad = None
        t.grad_fn = grad_fn
        t._device = device if device is not None else device_of_array(data)
        t._vc = VersionCounter()
        t._hooks = None
        return t

    # ----------------------------------------------------------------- attributes
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[dim]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return _py_int(self._data.size)

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes.wrap(self._data.dtype)

    @property
    def device(self) -> Device:
        return self._device

    @property
    def is_cuda(self) -> _py_bool:
        return self._device.is_cuda

    @property
    def _version(self) -> int:
        return self._vc.value

    def is_floating_point(self) -> _py_bool:
        return self._data.dtype.kind == "f"

    def element_size(self) -> int:
        return self._data.dtype.itemsize

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    __hash__ = object.__hash__

    # ----------------------------------------------------------------- conversion
    def item(self) -> Any:
        if self._data.size != 1:
            raise RuntimeError(
                f"item(): a tensor with {self._data.size} elements cannot be converted to a Python "
                f"number; index one element first (e.g. t[0].item())"
            )
        return self._data.reshape(()).item() if self._device is CPU else self._data.get().item()

    def numpy(self) -> np.ndarray:
        """The underlying NumPy array (shared memory, as in PyTorch)."""
        if self.requires_grad:
            raise RuntimeError(
                "numpy(): can't call numpy() on a tensor that requires grad; "
                "use tensor.detach().numpy()"
            )
        if self._device is not CPU:
            raise TypeError(
                f"numpy(): the tensor is on {self._device}; copy it to the host first with .cpu()"
            )
        return self._data

    def tolist(self) -> Any:
        return self.cpu()._data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self.cpu()._data
        return arr if dtype is None else arr.astype(dtype)

    def __float__(self) -> float:
        return _py_float(self.item())

    def __int__(self) -> int:
        return _py_int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return _py_int(self.item())

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a 0-d tensor's value, as in PyTorch."""
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self._data.size} elements is ambiguous; "
                f"use .any() or .all()"
            )
        return _py_bool(self.item())

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other_tensor)``."""
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        copy = kwargs.pop("copy", False)
        if kwargs:
            raise TypeError(f"to() got unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, str | Device):
                device = a
            else:
                dtype = a
        out = self
        if device is not None:
            dev = get_device(device)
            if dev is not self._device:
                out = M.ToDevice.apply(out, dev)
                out._device = dev
        if dtype is not None:
            dt = dtypes.as_dtype(dtype)
            if dt != out.dtype:
                if dt.kind == "f":
                    out = M.Cast.apply(out, dt)
                else:  # integer and bool results carry no gradient, as in PyTorch
                    out = Tensor._make(out._data.astype(dt), out._device)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self) -> Tensor:
        return self.to(CPU)

    def cuda(self, index: int | None = None) -> Tensor:
        return self.to("cuda" if index is None else f"cuda:{index}")

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def clone(self) -> Tensor:
        return S.Clone.apply(self)

    def contiguous(self) -> Tensor:
        if self._data.flags.c_contiguous:
            return self
        return S.Contiguous.apply(self)

    def is_contiguous(self) -> _py_bool:
        return _py_bool(self._data.flags.c_contiguous)

    # ----------------------------------------------------------------- printing
    def __repr__(self) -> str:
        arr = self.cpu()._data if self._device is not CPU else self._data
        default = arr.dtype in (dtypes.default_float, dtypes.int64, dtypes.bool_)
        grad = (f"grad_fn=<{self.grad_fn.name}>" if self.grad_fn is not None else
                "requires_grad=True" if self.requires_grad else None)
        return tensor_repr(arr, None if self._device is CPU else self._device,
                           None if default else dtypes.dtype_repr(arr.dtype), grad)


register_tensor_class(Tensor)


# --------------------------------------------------------------------- helpers


def _memory_root(arr: Any) -> Any:
    """The array that owns ``arr``'s memory (views chain through ``.base``)."""
    while True:
        base = getattr(arr, "base", None)
        if base is None:
            return arr
        arr = base


def _unwrap(data: Any) -> Any:
    """Nested lists of tensors/numbers -> something np.asarray understands."""
    if isinstance(data, Tensor):
        return data.cpu()._data
    if isinstance(data, list | tuple) and data and any(isinstance(d, Tensor) for d in data):
        return [_unwrap(d) for d in data]
    return data


def _mixed(a: Tensor, b: Tensor, name: str) -> None:
    from .errors import DeviceError  # noqa: PLC0415

    raise DeviceError(
        f"{name}: expected all tensors on the same device, but found {a.device} and {b.device}; "
        f"move one with .to('{a.device}')"
    )


def _tracking(*operands: Any) -> _py_bool:
    if not is_grad_enabled():
        return False
    return any(isinstance(o, Tensor) and o.requires_grad for o in operands)


def _as_tensor_like(x: Any, like: Tensor) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return tensor(x, device=like._device)


def _as_array_like(x: Any, like: Tensor) -> Any:
    if isinstance(x, Tensor):
        if x._device is not like._device:
            _mixed(like, x, "backward")
        return x._data.astype(like.dtype, copy=False)
    return like._device.xp.asarray(x, dtype=like.dtype)


def _result_dtype(a: np.dtype, b: np.dtype, a_0d: _py_bool, b_0d: _py_bool) -> np.dtype:
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    if a_0d != b_0d:  # a 0-d tensor does not widen a same-category tensor (PyTorch's rule)
        return b if a_0d else a
    return np.promote_types(a, b)


def _promote(a: Any, b: Any, true_div: _py_bool = False) -> tuple[Any, Any]:
    """Bring two operands (tensors or Python numbers) to PyTorch's result dtype.

    A Python number never widens a tensor of its own category (float32 * 2.5 stays float32); it
    only lifts integer and bool tensors to the default float (or bool to int64). This runs before
    every binary op, so the common cases are tested first, with exact type checks.
    """
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            da, db = a._data.dtype, b._data.dtype
            if da is not db and da != db:
                dt = _result_dtype(da, db, a._data.ndim == 0, b._data.ndim == 0)
                if da != dt:
                    a = a.to(dt)
                if db != dt:
                    b = b.to(dt)
            if true_div and a._data.dtype.kind != "f":
                a, b = a.to(dtypes.default_float), b.to(dtypes.default_float)
            return a, b
        t, s, t_first = a, b, True
    else:
        t, s, t_first = b, a, False
    st = type(s)
    if st is not _py_float and st is not _py_int and st is not _py_bool:
        s = _scalar_operand(s, t)
        if isinstance(s, Tensor):
            return _promote(t, s, true_div) if t_first else _promote(s, t, true_div)
        st = type(s)
    kind = t._data.dtype.kind
    if kind != "f":
        if st is _py_float or true_div:
            t = t.to(dtypes.default_float)
        elif st is _py_int and kind == "b":
            t = t.to(dtypes.int64)
    return (t, s) if t_first else (s, t)


def _scalar_operand(s: Any, like: Tensor) -> Any:
    """A NumPy scalar or number subclass as the plain Python number it stands for (so it is
    'weak', like a Python number); anything else (lists, arrays) as a tensor on ``like``'s
    device."""
    if isinstance(s, np.generic):
        return s.item()
    if isinstance(s, _py_bool):
        return _py_bool(s)
    if isinstance(s, _py_int):
        return _py_int(s)
    if isinstance(s, _py_float):
        return _py_float(s)
    return tensor(s, device=like._device)


def _remainder(a: Any, b: Any) -> Tensor:
    """Python's ``%`` (the result takes the divisor's sign), differentiable in both operands."""
    if _tracking(a, b):
        return a - (a // b).detach() * b
    return _no_grad_binary(a, b, lambda x, y: x % y)


def _pow(a: Any, b: Any) -> Tensor:
    ref = a if isinstance(a, Tensor) else b
    if ref._data.dtype.kind == "b":  # bool ** bool: NumPy gives int8, PyTorch keeps bool
        xp = ref._device.xp
        return _no_grad_binary(a, b, lambda x, y: xp.logical_or(x, xp.logical_not(y)))
    return M.Pow.apply(a, b)


_OPERAND_TYPES = (Tensor, _py_int, _py_float, np.ndarray, np.generic, list, tuple)


def _no_grad_binary(a: Any, b: Any, op: Any) -> Tensor:
    ref = a if isinstance(a, Tensor) else b
    other = b if ref is a else a
    if isinstance(other, Tensor) and other._device is not ref._device:
        _mixed(ref, other, "comparison")
    x = a._data if isinstance(a, Tensor) else a
    y = b._data if isinstance(b, Tensor) else b
    return Tensor._make(op(x, y), ref._device)


def _check_matmul(a: Tensor, b: Tensor) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError("matmul: both operands must have at least one dimension")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise RuntimeError(
            f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied: the "
            f"left operand's last dimension ({k_a}) must equal the right operand's "
            f"{'first' if b.ndim == 1 else 'second-to-last'} dimension ({k_b})"
        )


def _shape_arg(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    return tuple(_py_int(s) for s in shape)


def _index_arg(idx: Any, device: Device) -> Any:
    """Tensors inside an index become raw arrays on the indexed tensor's device."""
    if isinstance(idx, Tensor):
        return _index_array(idx, device)
    if isinstance(idx, tuple):
        return tuple(_index_array(i, device) if isinstance(i, Tensor) else
                     (device.xp.asarray(i) if isinstance(i, list) else i) for i in idx)
    if isinstance(idx, list):
        return device.xp.asarray(idx)
    return idx


def _index_array(t: Tensor, device: Device) -> Any:
    if t._device is not device and t._device is CPU:
        t = t.to(device)  # as in PyTorch, a CPU index may index a GPU tensor
    if t._device is not device:
        from .errors import DeviceError  # noqa: PLC0415

        raise DeviceError(
            f"indexing: the index tensor is on {t.device} but the indexed tensor is on {device}; "
            f"move the index with .to('{device}')"
        )
    if t._data.dtype.kind == "f":
        raise IndexError(
            "tensors used as indices must be integer or bool tensors, got "
            f"{dtypes.dtype_name(t.dtype)}; convert with .long()"
        )
    return t._data


# --------------------------------------------------------------------- creation


def tensor(data: Any, dtype: Any = None, device: Any = None,
           requires_grad: _py_bool = False) -> Tensor:
    """A new tensor copied from ``data`` (nested lists, numbers, NumPy arrays or tensors).

    Like PyTorch, Python floats give float32, ints int64, bools bool; NumPy arrays keep their dtype.
    """
    dev = get_device(device)
    if isinstance(data, Tensor):
        arr = data._data.copy()
        src_dev = data._device
    else:
        arr = data
        src_dev = device_of_array(arr)
        if src_dev is CPU:
            arr = np.array(_unwrap(arr), copy=True)
            if dtype is None and not isinstance(data, np.ndarray | np.generic):
                if arr.dtype == np.float64:
                    arr = arr.astype(dtypes.default_float)
                elif arr.dtype.kind in "iu":
                    arr = arr.astype(np.int64)
                elif arr.dtype.kind not in "fb":
                    raise TypeError(f"tensor(): can't convert data of type {arr.dtype}")
        else:
            arr = arr.copy()
    if dtype is not None:
        arr = arr.astype(dtypes.as_dtype(dtype), copy=False)
    elif arr.dtype not in dtypes._NAMES:
        raise TypeError(f"tensor(): unsupported dtype {arr.dtype}")
    if src_dev is not dev:
        arr = to_device_array(arr, dev)
    t = Tensor._make(arr, dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def from_numpy(arr: np.ndarray) -> Tensor:
    """Wrap a NumPy array without copying (shared memory, as ``torch.from_numpy``)."""
    return Tensor._make(arr, CPU)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    if isinstance(data, Tensor):
        return data.to(device or data.device, dtype or data.dtype)
    if isinstance(data, np.ndarray) and (device is None or get_device(device) is CPU) and (
            dtype is None or dtypes.as_dtype(dtype) == data.dtype):
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def maximum(a: Tensor, b: Tensor) -> Tensor:
    return M.Maximum.apply(*_promote(a, b))


def minimum(a: Tensor, b: Tensor) -> Tensor:
    return M.Minimum.apply(*_promote(a, b))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a if condition else b``; gradients flow to both a and b."""
    cond = condition._data if isinstance(condition, Tensor) else condition
    ref = condition if isinstance(condition, Tensor) else (a if isinstance(a, Tensor) else b)
    if not isinstance(a, Tensor):
        a = tensor(a, device=ref.device)
    if not isinstance(b, Tensor):
        b = tensor(b, device=ref.device)
    a, b = _promote(a, b)
    if cond.dtype != np.bool_:
        cond = cond.astype(bool)
    return M.Where.apply(cond, a, b)
