"""Loss functions of ``engine.nn.functional``, with PyTorch's exact formulas (weighted means,
``ignore_index``, label smoothing, probability targets, ``pos_weight``).

``cross_entropy`` with class indices is one fused node: a stable log-softmax and the NLL in the
forward, ``softmax - one_hot`` (scaled) in the backward, with no intermediate tensors. Inputs may
be ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)``; the class axis is folded to rows of a 2-D array so
every case runs the same code.
"""

from __future__ import annotations

from typing import Any

import numpy as _np

from .. import _cuda_kernels
from .._backend import xp_of
from .._cuda_kernels import on_gpu
from ..errors import ShapeError
from ..tensor import Tensor, tensor
from ._functional_loss_elementwise import *  # noqa: F401,F403 - re-exported
from ._functional_loss_elementwise import __all__ as _elementwise_all
from ._functional_util import (
    _REDUCTIONS,
    _max_reduce,
    _Op,
    _reduction,
    _row_max,
    _row_sum,
    raise_device,
)

__all__ = ["cross_entropy", "nll_loss", *_elementwise_all]
_OFFSETS: dict[tuple[int, int], Any] = {}


def _to_rows(x: Any) -> Any:
    """``(N, C, d1, ...)`` / ``(C,)`` / ``(N, C)`` -> ``(M, C)`` with classes along axis 1."""
    if x.ndim == 2:
        return x
    if x.ndim == 1:
        return x.reshape(1, -1)
    return xp_of(x).moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _from_rows(g2: Any, shape: tuple[int, ...]) -> Any:
    if len(shape) <= 2:
        return g2.reshape(shape)
    xp = xp_of(g2)
    moved = g2.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],))
    return xp.ascontiguousarray(xp.moveaxis(moved, -1, 1))


def _row_coef(g: Any, reduction: str, denom: Any) -> Any:
    """Per-row scale of the loss gradient: (M,) for 'none', a 0-d array otherwise."""
    if reduction == "none":
        return g.reshape(-1)
    return g / denom if reduction == "mean" else g


def _mean(loss: Any, denom: Any, xp: Any) -> Any:
    """Weighted mean; 0/0 (every target ignored) is NaN, as in PyTorch, without a warning."""
    if isinstance(denom, int) or xp is not _np:
        return loss.sum() / denom
    with _np.errstate(invalid="ignore", divide="ignore"):
        return loss.sum() / denom


def _target_weights(w: Any, t: Any, valid: Any, dtype: Any) -> Any:
    """Each row's weight: its class weight ``w[t]`` times 0/1 for ``ignore_index`` rows; None
    when every row weighs 1."""
    if w is not None:
        wy = w[t]
        if valid is not None:
            wy *= valid
        return wy
    return None if valid is None else valid.astype(dtype)


def _col(v: Any) -> Any:
    """A scalar or (M,) coefficient as something that broadcasts over (M, C)."""
    return v.reshape(-1, 1) if getattr(v, "ndim", 0) else v


# --------------------------------------------------------------------- class-index losses


_UNSIGNED = {1: _np.dtype(_np.uint8), 2: _np.dtype(_np.uint16), 4: _np.dtype(_np.uint32),
             8: _np.dtype(_np.uint64)}


def _class_targets(name: str, input: Tensor, target: Tensor, weight: Tensor | None,
                   ignore_index: int) -> tuple[Any, Any, Any, int]:
    """Validate class-index targets; return (targets as (M,), weight, valid mask or None, C).

    Ignored positions are replaced by class 0 (their weight is zeroed through ``valid``), so the
    fused kernels can gather without branching. Runs every training step: the checks are
    ordered so the usual case costs one reduction.
    """
    x, t = input._data, target._data
    xshape = x.shape
    if len(xshape) == 2:
        expected, n_classes = xshape[:1], xshape[1]
    elif len(xshape) == 1:
        expected, n_classes = (), xshape[0]
    elif not xshape:
        raise ShapeError(f"{name}: input must have a class dimension, (C,) or (N, C, ...), "
                         f"got a 0-d tensor")
    else:
        expected, n_classes = xshape[:1] + xshape[2:], xshape[1]
    if t.shape != expected or t.dtype.kind not in "iu":
        _bad_target(name, x, t, expected)
    if target._device is not input._device:
        raise_device(name, input, target)
    w = None
    if weight is not None:
        if weight.shape != (n_classes,):
            raise ShapeError(
                f"{name}: weight must be a 1-D tensor with one entry per class, shape "
                f"({n_classes},), got {tuple(weight.shape)}"
            )
        w = weight._data.astype(x.dtype, copy=False)
    t1 = t if t.ndim == 1 else t.reshape(-1)
    valid = None
    if t1.size:
        if not 0 <= ignore_index < n_classes:
            # One reduction checks the range: seen as unsigned, negative labels are huge.
            unsigned = t1.view(_UNSIGNED[t1.dtype.itemsize]) if t1.dtype.kind == "i" else t1
            top = _max_reduce(unsigned) if type(unsigned) is _np.ndarray else unsigned.max()
            if int(top) < n_classes:
                return t1, w, None, n_classes
        valid = t1 != ignore_index
        bad = valid & ((t1 < 0) | (t1 >= n_classes))
        if bool(bad.any()):
            value = int(t1[bad][0])
            raise IndexError(
                f"{name}: target class {value} is out of range for {n_classes} classes "
                f"(valid: 0..{n_classes - 1}, or ignore_index={ignore_index}); fix the "
                f"labels or make the last layer output {value + 1} classes or more"
            )
        if bool(valid.all()):
            valid = None
        else:
            t1 = xp_of(t1).where(valid, t1, 0)
    return t1, w, valid, n_classes



def _bad_target(name: str, x: Any, t: Any, expected: tuple[int, ...]) -> None:
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: class-index targets must be an integer tensor, got {t.dtype} with shape "
            f"{tuple(t.shape)}; use target.long(), or give class probabilities with the same "
            f"shape as the input {tuple(x.shape)}"
        )
    raise ShapeError(
        f"{name}: target shape {tuple(t.shape)} doesn't match input shape {tuple(x.shape)}; "
        f"class-index targets must have shape {tuple(expected)} (the input's shape without "
        f"the class dimension {0 if x.ndim == 1 else 1})"
    )


def _flat_index(t: Any, m: int, n_classes: int, xp: Any) -> Any:
    """Positions of each row's target class in the flattened (M, C) array."""
    if xp is not _np:
        return t + xp.arange(m) * n_classes
    offsets = _OFFSETS.get((m, n_classes))
    if offsets is None:
        if len(_OFFSETS) > 64:
            _OFFSETS.clear()
        offsets = _OFFSETS[(m, n_classes)] = _np.arange(m) * n_classes
    return t + offsets


class _CrossEntropy(_Op):
    """Fused log-softmax + NLL for class indices.

    Per row n (target y, class weights w, smoothing e over C classes):
        loss_n = (1 - e) * w_y * (-log p_y) + (e / C) * sum_c w_c * (-log p_c)
    'mean' divides the sum by sum_n w_{y_n} over non-ignored rows (PyTorch's weighted mean).
    """

    def forward(self, x: Any, t: Any, w: Any, valid: Any, reduction: str, eps: float) -> Any:
        xp = xp_of(x)
        x2 = _to_rows(x)
        m, n_classes = x2.shape
        self.fused = (on_gpu(xp, x.dtype) and not eps and w is None and valid is None
                      and n_classes <= _cuda_kernels.CROSS_ENTROPY_MAX_CLASSES)
        if self.fused:  # the plain case in one launch (a GPU step is launch-bound)
            e, s, loss = _cuda_kernels.cross_entropy_rows(x2, t)
            if self.needs[0]:
                self.e, self.s, self.t, self.reduction, self.denom = e, s, t, reduction, m
                self.shape = x.shape
            if reduction == "none":
                return loss.reshape(x.shape[:1] + x.shape[2:]) if x.ndim != 1 else loss.reshape(())
            return loss.sum() if reduction == "sum" else _mean(loss, m, xp)
        flat = _flat_index(t, m, n_classes, xp)
        e = x2 - _row_max(x2, xp)  # shifted logits, exponentiated in place below
        picked = e.ravel()[flat]
        if eps:
            shifted_sum = _row_sum(e, xp) if w is None else e @ w
        xp.exp(e, out=e)
        s = _row_sum(e, xp)
        loss = xp.log(s)  # log-sum-exp of the shifted logits
        w_total = smooth = None
        if eps:
            w_total = n_classes if w is None else w.sum()
            smooth = loss * w_total
            smooth -= shifted_sum  # -sum_c w_c log p_c
            if valid is not None:
                smooth *= valid
        loss -= picked  # -log p_y
        wy = _target_weights(w, t, valid, x.dtype)
        if wy is not None:
            loss *= wy
        if eps:
            loss *= 1 - eps
            smooth *= eps / n_classes
            loss += smooth
        denom = m if wy is None else wy.sum()
        if reduction == "none":
            out = loss.reshape(x.shape[:1] + x.shape[2:]) if x.ndim != 1 else loss.reshape(())
        elif reduction == "sum":
            out = loss.sum()
        else:
            out = _mean(loss, denom, xp)
        if self.needs[0]:
            self.e, self.s, self.flat, self.w, self.wy, self.valid = e, s, flat, w, wy, valid
            self.eps, self.w_total, self.denom, self.reduction = eps, w_total, denom, reduction
            self.shape = x.shape
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        if self.fused:
            grad = _cuda_kernels.cross_entropy_rows_backward(self.e, self.s, self.t, g,
                                                             self.reduction, self.denom)
            return (_from_rows(grad, self.shape),)
        e, eps = self.e, self.eps
        n_classes = e.shape[1]
        c = _row_coef(g, self.reduction, self.denom)
        b = c * (1 - eps) if self.wy is None else c * (1 - eps) * self.wy  # one-hot coefficient
        a = b
        if eps:
            smooth_c = c * (eps / n_classes)
            if self.valid is not None:
                smooth_c = smooth_c * self.valid
            a = b + smooth_c * self.w_total
        grad = e * _col(a / self.s)  # a * softmax
        grad.ravel()[self.flat] -= b
        if eps:
            grad -= _col(smooth_c) * (1 if self.w is None else self.w)
        return (_from_rows(grad, self.shape),)


class _NLLLoss(_Op):
    """loss_n = -w_y * x[n, y]; 'mean' divides by the sum of the target weights."""

    def forward(self, x: Any, t: Any, w: Any, valid: Any, reduction: str) -> Any:
        xp = xp_of(x)
        x2 = _to_rows(x)
        m = x2.shape[0]
        loss = -x2[xp.arange(m), t]
        wy = _target_weights(w, t, valid, x.dtype)
        if wy is not None:
            loss *= wy
        denom = m if wy is None else wy.sum()
        if reduction == "none":
            out = loss.reshape(x.shape[:1] + x.shape[2:]) if x.ndim != 1 else loss.reshape(())
        else:
            out = loss.sum() if reduction == "sum" else _mean(loss, denom, xp)
        if self.needs[0]:
            self.t, self.wy, self.denom, self.reduction = t, wy, denom, reduction
            self.shape, self.rows_shape = x.shape, x2.shape
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        c = _row_coef(g, self.reduction, self.denom)
        if self.wy is not None:
            c = c * self.wy
        grad = xp.zeros(self.rows_shape, dtype=g.dtype)
        grad[xp.arange(self.rows_shape[0]), self.t] = -c
        return (_from_rows(grad, self.shape),)


class _CrossEntropyProb(_Op):
    """Cross entropy against class probabilities:
    loss_n = -sum_c w_c * t'_nc * log p_nc with t' = t * (1 - e) + e / C; 'mean' divides by the
    number of rows (N * d1 * ...), as PyTorch does."""

    def forward(self, x: Any, t: Any, w: Any, reduction: str, eps: float) -> Any:
        xp = xp_of(x)
        x2, t2 = _to_rows(x), _to_rows(t)
        m, n_classes = x2.shape
        logp = x2 - x2.max(axis=1, keepdims=True)
        e = xp.exp(logp)
        s = e.sum(axis=1, keepdims=True)
        logp -= xp.log(s)
        wt = t2
        if eps:
            wt = t2 * (1 - eps)
            wt += eps / n_classes
        if w is not None:
            wt = wt * w
        loss = -(logp * wt).sum(axis=1)
        if reduction == "none":
            out = loss.reshape(x.shape[:1] + x.shape[2:]) if x.ndim != 1 else loss.reshape(())
        else:
            out = loss.sum() if reduction == "sum" else loss.sum() / m
        self.reduction, self.shape, self.m = reduction, x.shape, m
        if self.needs[0]:
            e /= s
            self.p, self.wt = e, wt
        if self.needs[1]:
            self.logp, self.w, self.eps = logp, w, eps
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        c = _col(_row_coef(g, self.reduction, self.m))
        gx = gt = None
        if self.needs[0]:
            gx = self.p * self.wt.sum(axis=1, keepdims=True)
            gx -= self.wt
            gx *= c
            gx = _from_rows(gx, self.shape)
        if self.needs[1]:
            gt = self.logp * (-(1 - self.eps))
            if self.w is not None:
                gt *= self.w
            gt *= c
            gt = _from_rows(gt, self.shape)
        return gx, gt


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross entropy between logits and class indices (integer target of shape ``(N,)``)
    or class probabilities (float target of the input's shape).

    Shape: input ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)``; output a scalar, or the target's
    shape with ``reduction='none'``.
    """
    if size_average is not None or reduce is not None or reduction not in _REDUCTIONS:
        reduction = _reduction("cross_entropy", size_average, reduce, reduction)
    if label_smoothing and not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}"
        )
    if not isinstance(target, Tensor):
        target = tensor(target, device=input.device)
    x, t = input._data, target._data
    if x.dtype.kind != "f":
        raise TypeError(f"cross_entropy: input must be floating point logits, got "
                        f"{input.dtype}; convert with .float()")
    if t.shape != x.shape or not x.ndim or t.dtype.kind in "iu" and x.ndim == 1:  # indices
        t1, w, valid, _ = _class_targets("cross_entropy", input, target, weight, ignore_index)
        return _CrossEntropy.apply(input, t=t1, w=w, valid=valid, reduction=reduction,
                                   eps=label_smoothing)
    if t.dtype.kind != "f":
        raise TypeError(
            f"cross_entropy: a target with the input's shape {tuple(input.shape)} is read "
            f"as class probabilities and must be floating point, got {target.dtype}; for "
            f"class indices give shape {(input.shape[0],) + tuple(input.shape[2:])}"
        )
    if ignore_index >= 0:
        raise ValueError("cross_entropy: ignore_index is not supported for class-probability "
                         "targets")
    if target.device is not input.device:
        raise_device("cross_entropy", input, target)
    w = _weight_for(weight, input, "cross_entropy")
    if target.dtype != input.dtype:
        target = target.to(input.dtype)
    return _CrossEntropyProb.apply(input, target, w=w, reduction=reduction, eps=label_smoothing)


def _weight_for(weight: Tensor | None, input: Tensor, name: str) -> Any:
    if weight is None:
        return None
    n_classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    if tuple(weight.shape) != (n_classes,):
        raise ShapeError(f"{name}: weight must have shape ({n_classes},) (one per class), got "
                         f"{tuple(weight.shape)}")
    return weight._data.astype(input.dtype, copy=False)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             size_average: Any = None, ignore_index: int = -100, reduce: Any = None,
             reduction: str = "mean") -> Tensor:
    """Negative log likelihood of class indices given log-probabilities (``log_softmax``
    output)."""
    reduction = _reduction("nll_loss", size_average, reduce, reduction)
    if not isinstance(target, Tensor):
        target = tensor(target, device=input.device)
    t, w, valid, _ = _class_targets("nll_loss", input, target, weight, ignore_index)
    return _NLLLoss.apply(input, t=t, w=w, valid=valid, reduction=reduction)


# --------------------------------------------------------------------- elementwise losses
