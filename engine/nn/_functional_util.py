"""Pieces shared by the functional ops and losses: the op base class, reductions, fast row-wise
max/sum for small class counts, and a stable sigmoid."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as _np

from .._backend import xp_of
from ..autograd.function import Function
from ..tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")
_max_reduce = _np.maximum.reduce
_ONES: dict[tuple[int, Any], Any] = {}


def _reduction(name: str, size_average: Any, reduce: Any, reduction: str) -> str:
    """The reduction, honouring PyTorch's deprecated ``size_average``/``reduce`` pair."""
    if size_average is not None or reduce is not None:
        warnings.warn("size_average and reduce args will be deprecated, please use "
                      "reduction='mean', 'sum' or 'none' instead.", stacklevel=3)
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else ("sum" if reduce else "none")
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"{name}: {reduction!r} is not a valid value for reduction; use 'none', 'mean' or "
            f"'sum'"
        )
    return reduction


class _Op(Function):
    """A Function whose graph node shows its name without the private underscore
    (``CrossEntropyBackward``), as errors and the editor display it."""

    @property
    def name(self) -> str:
        return type(self).__name__.lstrip("_") + "Backward"


def _reduce(loss: Any, reduction: str) -> Any:
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _upstream(g: Any, reduction: str, n: int) -> Any:
    """The gradient reaching each element of an elementwise loss before the reduction."""
    return g / n if reduction == "mean" else g


def raise_device(name: str, a: Tensor, b: Tensor) -> None:
    from ..errors import DeviceError  # noqa: PLC0415

    raise DeviceError(
        f"{name}: input is on {a.device} but target is on {b.device}; move the target with "
        f".to('{a.device}')"
    )


def _row_max(x2: Any, xp: Any = None) -> Any:
    """Per-row max of a 2-D array as an (M, 1) column. NumPy reduces a short last axis row by
    row (slow for the usual few classes), so for C <= 32 the max runs down a transposed copy."""
    if (xp or xp_of(x2)) is not _np:
        return x2.max(axis=1, keepdims=True)
    if x2.shape[1] <= 32 and x2.shape[0] >= 16:
        return _max_reduce(_np.ascontiguousarray(x2.T), axis=0).reshape(-1, 1)
    return _max_reduce(x2, axis=1, keepdims=True)


def _row_sum(x2: Any, xp: Any = None) -> Any:
    """Per-row sum of a 2-D array, on the CPU as a BLAS matrix-vector product (several times
    faster than ``sum(axis=1)`` for short rows)."""
    if (xp or xp_of(x2)) is not _np:
        return x2.sum(axis=1)
    key = (x2.shape[1], x2.dtype.char)
    ones = _ONES.get(key)
    if ones is None:
        ones = _ONES[key] = _np.ones(x2.shape[1], dtype=x2.dtype)
    return x2 @ ones


def _sigmoid(x: Any) -> Any:
    xp = xp_of(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _quiet(xp: Any) -> Any:
    return xp.errstate(divide="ignore", invalid="ignore") if hasattr(xp, "errstate") else (
        _Null())


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
