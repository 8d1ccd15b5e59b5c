"""Factory functions (``zeros``, ``randn``, ...) and the free functions that join tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import dtypes, random
from ._backend import get_device
from .errors import ShapeError
from .ops import shape as S
from .ops.util import normalize_dims
from .tensor import Tensor, _promote


def _size(size: tuple[Any, ...]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], tuple | list):
        size = tuple(size[0])
    for s in size:
        if int(s) < 0:
            raise ValueError(f"sizes must be non-negative, got {tuple(size)}")
    return tuple(int(s) for s in size)


def _finish(arr: Any, device: Any, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr, get_device(device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _fill(size: tuple[Any, ...], value: Any, dtype: Any, device: Any,
          requires_grad: bool) -> Tensor:
    dev = get_device(device)
    dt = dtypes.as_dtype(dtype)
    with dev.context():
        arr = dev.xp.full(_size(size), value, dtype=dt)
    return _finish(arr, dev, requires_grad)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _fill(size, 0, dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _fill(size, 1, dtype, device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    dev = get_device(device)
    with dev.context():
        arr = dev.xp.empty(_size(size), dtype=dtypes.as_dtype(dtype))
    return _finish(arr, dev, requires_grad)


def full(size: Sequence[int], fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = (dtypes.bool_ if isinstance(fill_value, bool) else
                 dtypes.int64 if isinstance(fill_value, int) else dtypes.default_float)
    return _fill(tuple(size), fill_value, dtype, device, requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, device: Any = None) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device)


def empty_like(t: Tensor, dtype: Any = None, device: Any = None) -> Tensor:
    return empty(t.shape, dtype=dtype or t.dtype, device=device or t.device)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange(): step must be nonzero")
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(v, int) for v in (start, end, step)) else None
    dev = get_device(device)
    with dev.context():
        arr = dev.xp.arange(start, end, step).astype(dtypes.as_dtype(dtype))
    return _finish(arr, dev, requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    dev = get_device(device)
    with dev.context():
        arr = dev.xp.linspace(start, end, int(steps)).astype(dtypes.as_dtype(dtype))
    return _finish(arr, dev, requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    dev = get_device(device)
    with dev.context():
        arr = dev.xp.eye(n, m, dtype=dtypes.as_dtype(dtype))
    return _finish(arr, dev, requires_grad)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
         generator: Any = None) -> Tensor:
    dev = get_device(device)
    arr = random.uniform(_size(size), 0.0, 1.0, dtypes.as_dtype(dtype), dev, generator)
    return _finish(arr, dev, requires_grad)


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          generator: Any = None) -> Tensor:
    dev = get_device(device)
    arr = random.normal(_size(size), 0.0, 1.0, dtypes.as_dtype(dtype), dev, generator)
    return _finish(arr, dev, requires_grad)


def randint(low: int, high: Any = None, size: Any = None, *, dtype: Any = None,
            device: Any = None, generator: Any = None, requires_grad: bool = False) -> Tensor:
    """``randint(high, size)``, ``randint(high, size=...)`` or ``randint(low, high, size)``, as
    in PyTorch."""
    if isinstance(high, tuple | list):
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint(): give the size, e.g. randint(10, (3,)) or "
                        "randint(0, 10, size=(3,))")
    if high <= low:
        raise ValueError(f"randint(): high ({high}) must be greater than low ({low})")
    dev = get_device(device)
    arr = random.integers(low, high, _size((size,) if isinstance(size, int) else tuple(size)),
                          dtypes.as_dtype(dtype or dtypes.int64), dev, generator)
    return _finish(arr, dev, requires_grad)


def rand_like(t: Tensor, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    return rand(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def randn_like(t: Tensor, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    return randn(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def randint_like(t: Tensor, low: int, high: int | None = None, dtype: Any = None,
                 device: Any = None) -> Tensor:
    return randint(low, high, tuple(t.shape), dtype=dtype or t.dtype,
                   device=device or t.device)


def randperm(n: int, *, generator: Any = None, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    dev = get_device(device)
    arr = random.permutation(n, dev, generator).astype(dtypes.as_dtype(dtype or dtypes.int64))
    return _finish(arr, dev, requires_grad)


def _join_args(tensors: Sequence[Tensor], name: str) -> list[Tensor]:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{name}(): expected a non-empty sequence of tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): expected tensors, got {type(t).__name__}")
    first = tensors[0]
    for t in tensors[1:]:
        if t.device is not first.device:
            from .errors import DeviceError  # noqa: PLC0415

            raise DeviceError(
                f"{name}(): expected all tensors on the same device, but found {first.device} "
                f"and {t.device}; move them first with .to('{first.device}')"
            )
        if t.dtype != first.dtype:
            first_cast, t_cast = _promote(first, t)
            dt = first_cast.dtype
            tensors = [x.to(dt) for x in tensors]
            first = tensors[0]
    return tensors


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join along an existing dimension; all other dimensions must match."""
    ts = _join_args(tensors, "cat")
    ref = ts[0]
    d = normalize_dims(dim, ref.ndim)[0]
    for i, t in enumerate(ts):
        if t.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape))
                                     if j != d):
            raise ShapeError(
                f"cat(): tensor {i} has shape {tuple(t.shape)} but tensor 0 has shape "
                f"{tuple(ref.shape)}; they must match except in dimension {dim}"
            )
    return S.Cat.apply(*ts, dim=d)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join along a new dimension; all shapes must be equal."""
    ts = _join_args(tensors, "stack")
    ref = ts[0]
    for i, t in enumerate(ts):
        if t.shape != ref.shape:
            raise ShapeError(
                f"stack(): tensor {i} has shape {tuple(t.shape)} but tensor 0 has shape "
                f"{tuple(ref.shape)}; stack needs equal shapes"
            )
    d = dim if dim >= 0 else dim + ref.ndim + 1
    return S.Stack.apply(*ts, dim=d)
