"""PyTorch's global settings and legacy names that ordinary scripts still use:
``set_default_dtype``, ``set_num_threads``, ``inference_mode``, ``finfo``/``iinfo`` and the
legacy tensor types (``FloatTensor(2, 3)``, ``x.type(torch.LongTensor)``,
``isinstance(x, torch.FloatTensor)``)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import dtypes
from ._tensor_api import TYPE_NAMES
from .autograd.grad_mode import _GradMode
from .tensor import Tensor

# ----------------------------------------------------------------------------- default dtype


def set_default_dtype(d: Any) -> None:
    """The dtype of Python floats and of float factories (``zeros``, ``rand``...) from now on;
    float32 or float64 (float16 too), as PyTorch allows."""
    dt = dtypes.as_dtype(d)
    if dt.kind != "f":
        raise TypeError(f"only floating-point types are supported as the default type, got "
                        f"{dtypes.dtype_repr(dt)}")
    dtypes.default_float = dt


def get_default_dtype() -> Any:
    return dtypes.wrap(dtypes.default_float)


# ----------------------------------------------------------------------------- threads

_threads: list[int] = []


def set_num_threads(n: int) -> None:
    """How many threads the CPU's BLAS (matrix products, convolutions) may use."""
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive number of threads, got {n}")
    threadpool_limits(limits=n)
    _threads[:] = [n]


def get_num_threads() -> int:
    return _threads[0] if _threads else (os.cpu_count() or 1)


_matmul_precision = ["highest"]


def set_float32_matmul_precision(precision: str) -> None:
    """Accepted for PyTorch's scripts ("highest", "high", "medium"): the engine computes float32
    products in full float32 whatever is set (it has no TF32/bfloat16 fast paths)."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"set_float32_matmul_precision: invalid precision {precision!r}; use "
                           f"'highest', 'high' or 'medium'")
    _matmul_precision[0] = precision


def get_float32_matmul_precision() -> str:
    return _matmul_precision[0]


# ----------------------------------------------------------------------------- inference mode


class inference_mode(_GradMode):  # noqa: N801 - PyTorch's name
    """``with engine.inference_mode():`` (or as a decorator, with or without parentheses): no
    graph is recorded, as under ``no_grad``; ``inference_mode(False)`` records."""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):  # used bare: @inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: Any = True) -> None:
        self.mode = not bool(mode)

    def _clone(self) -> _GradMode:
        return inference_mode(not self.mode)


def is_inference_mode_enabled() -> bool:
    from .autograd.grad_mode import is_grad_enabled  # noqa: PLC0415

    return not is_grad_enabled()


# ----------------------------------------------------------------------------- finfo / iinfo


class finfo:  # noqa: N801
    """Machine limits of a float dtype (``eps``, ``max``, ``min``, ``tiny``, ``resolution``)."""

    def __init__(self, type: Any = None) -> None:  # noqa: A002
        dt = dtypes.as_dtype(type)
        if dt.kind != "f":
            raise TypeError(f"finfo: {dtypes.dtype_repr(dt)} is not a floating point dtype; "
                            f"use iinfo")
        info = np.finfo(dt)
        self.dtype = dtypes.dtype_name(dt)
        self.bits, self.eps = int(info.bits), float(info.eps)
        self.max, self.min = float(info.max), float(info.min)
        self.tiny = self.smallest_normal = float(info.tiny)
        self.resolution = 10.0 ** -int(info.precision)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.tiny:g}, tiny={self.tiny:g}, "
                f"dtype={self.dtype})")


class iinfo:  # noqa: N801
    """Limits of an integer dtype (``min``, ``max``, ``bits``)."""

    def __init__(self, type: Any) -> None:  # noqa: A002
        dt = dtypes.as_dtype(type)
        if dt.kind not in "iub":
            raise TypeError(f"iinfo: {dtypes.dtype_repr(dt)} is not an integer dtype; use finfo")
        info = np.iinfo(np.uint8 if dt.kind == "b" else dt)
        self.dtype = dtypes.dtype_name(dt)
        self.bits, self.min, self.max = int(info.bits), int(info.min), int(info.max)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


# ----------------------------------------------------------------------------- legacy types


class _LegacyType(type):
    """``isinstance(x, FloatTensor)`` is a dtype (and device) check, as in PyTorch."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return (isinstance(obj, Tensor) and obj.dtype == cls.legacy_dtype
                and obj.is_cuda == cls.is_cuda)


def _legacy_type(name: str, dt: Any, cuda: bool) -> type:
    def __new__(cls: type, *args: Any, device: Any = None) -> Tensor:  # noqa: N807
        if len(args) == 1 and isinstance(args[0], Tensor):
            out = args[0].to(dt)
        else:
            out = Tensor(*args, dtype=dt)
        return out.cuda() if cuda else (out.to(device) if device is not None else out)

    return _LegacyType(name, (), {"__new__": __new__, "legacy_dtype": dt, "is_cuda": cuda,
                                  "__doc__": f"Legacy constructor for {dtypes.dtype_repr(dt)} "
                                             f"tensors (``{name}(2, 3)``, ``{name}([1, 2])``)."})


def legacy_types(cuda: bool) -> dict[str, type]:
    by_name = {d.name: d for d in (dtypes.float32, dtypes.float64, dtypes.float16,
                                    dtypes.int64, dtypes.int32, dtypes.int16, dtypes.int8,
                                    dtypes.uint8, dtypes.bool_)}
    return {TYPE_NAMES[n]: _legacy_type(TYPE_NAMES[n], d, cuda) for n, d in by_name.items()}
