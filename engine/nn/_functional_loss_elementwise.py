"""Elementwise losses of ``engine.nn.functional`` (``mse_loss``, ``l1_loss``,
``binary_cross_entropy``, ``binary_cross_entropy_with_logits``), PyTorch's formulas; each is one
node whose backward reduces broadcast gradients with ``sum_to``."""

from __future__ import annotations

import warnings
from typing import Any

from .._backend import xp_of
from ..errors import ShapeError
from ..ops.util import sum_to
from ..tensor import Tensor, tensor
from ._functional_util import _Op, _quiet, _reduce, _reduction, _sigmoid, _upstream, raise_device

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "l1_loss", "mse_loss"]


def _pair(name: str, input: Tensor, target: Any, same_shape: bool) -> Tensor:
    """The target as a tensor of the input's dtype/device; shapes checked (or warned on)."""
    if not isinstance(target, Tensor):
        target = tensor(target, dtype=input.dtype, device=input.device)
    if target.device is not input.device:
        raise_device(name, input, target)
    if target.dtype != input.dtype:
        target = target.to(input.dtype)
    if target.shape != input.shape:
        if same_shape:
            raise ShapeError(
                f"{name}: target size {tuple(target.shape)} must be the same as input size "
                f"{tuple(input.shape)}"
            )
        try:
            xp_of(input._data).broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ShapeError(
                f"{name}: target shape {tuple(target.shape)} and input shape "
                f"{tuple(input.shape)} can't be broadcast together; reshape the target"
            ) from None
        warnings.warn(
            f"{name}: using a target size ({tuple(target.shape)}) that is different to the input "
            f"size ({tuple(input.shape)}). This will likely lead to incorrect results due to "
            f"broadcasting. Please ensure they have the same size.", stacklevel=3,
        )
    return target


class _MSELoss(_Op):
    def forward(self, x: Any, t: Any, reduction: str) -> Any:
        d = x - t
        if self.needs[0] or self.needs[1]:
            self.d, self.sx, self.st, self.reduction = d, x.shape, t.shape, reduction
        return _reduce(d * d, reduction)

    def backward(self, g: Any) -> tuple[Any, Any]:
        common = self.d * (2 * _upstream(g, self.reduction, self.d.size))
        n = self.needs
        return (sum_to(common, self.sx) if n[0] else None,
                sum_to(-common, self.st) if n[1] else None)


class _L1Loss(_Op):
    def forward(self, x: Any, t: Any, reduction: str) -> Any:
        xp = xp_of(x)
        d = x - t
        if self.needs[0] or self.needs[1]:
            self.sign, self.sx, self.st, self.reduction = xp.sign(d), x.shape, t.shape, reduction
        return _reduce(xp.abs(d), reduction)

    def backward(self, g: Any) -> tuple[Any, Any]:
        common = self.sign * _upstream(g, self.reduction, self.sign.size)
        n = self.needs
        return (sum_to(common, self.sx) if n[0] else None,
                sum_to(-common, self.st) if n[1] else None)


def mse_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
             reduction: str = "mean") -> Tensor:
    """Mean squared error ``(input - target) ** 2``, reduced."""
    reduction = _reduction("mse_loss", size_average, reduce, reduction)
    target = _pair("mse_loss", input, target, same_shape=False)
    return _MSELoss.apply(input, target, reduction=reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
            reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|input - target|``, reduced."""
    reduction = _reduction("l1_loss", size_average, reduce, reduction)
    target = _pair("l1_loss", input, target, same_shape=False)
    return _L1Loss.apply(input, target, reduction=reduction)


class _BCELoss(_Op):
    """-w * (t * log x + (1 - t) * log(1 - x)), each log clamped at -100 as in PyTorch."""

    def forward(self, x: Any, t: Any, w: Any, reduction: str) -> Any:
        xp = xp_of(x)
        with _quiet(xp):
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log(1 - x), -100)
        loss = log_1mx - t * (log_1mx - log_x)
        loss = -loss
        if w is not None:
            loss = loss * w
        self.x, self.t, self.w, self.reduction = x, t, w, reduction
        self.log_x, self.log_1mx = log_x, log_1mx
        return _reduce(loss, reduction)

    def backward(self, g: Any) -> tuple[Any, Any]:
        xp = xp_of(g)
        x, t, w = self.x, self.t, self.w
        up = _upstream(g, self.reduction, max(x.size, t.size))
        if w is not None:
            up = up * w
        gx = gt = None
        if self.needs[0]:
            gx = sum_to((x - t) / xp.maximum((1 - x) * x, 1e-12) * up, x.shape)
        if self.needs[1]:
            gt = sum_to((self.log_1mx - self.log_x) * up, t.shape)
        return gx, gt


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: Any = None, reduce: Any = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross entropy between probabilities ``input`` (in [0, 1]) and ``target``.
    Prefer ``binary_cross_entropy_with_logits`` on raw scores: it is numerically stable."""
    reduction = _reduction("binary_cross_entropy", size_average, reduce, reduction)
    target = _pair("binary_cross_entropy", input, target, same_shape=True)
    x = input._data
    if x.size and (bool((x < 0).any()) or bool((x > 1).any())):
        raise ValueError(
            "binary_cross_entropy: all elements of input should be between 0 and 1; apply "
            "sigmoid first, or use binary_cross_entropy_with_logits on the raw scores"
        )
    w = None if weight is None else _broadcast_weight("binary_cross_entropy", weight, input)
    return _BCELoss.apply(input, target, w=w, reduction=reduction)


def _broadcast_weight(name: str, weight: Tensor, input: Tensor) -> Any:
    try:
        xp_of(input._data).broadcast_shapes(weight.shape, input.shape)
    except ValueError:
        raise ShapeError(f"{name}: weight of shape {tuple(weight.shape)} can't be broadcast to "
                         f"the input's shape {tuple(input.shape)}") from None
    return weight._data.astype(input.dtype, copy=False)


class _BCEWithLogits(_Op):
    """(1 - t) * x + lw * softplus(-x), lw = 1 + (pos_weight - 1) * t; times weight."""

    def forward(self, x: Any, t: Any, w: Any, pw: Any, reduction: str) -> Any:
        xp = xp_of(x)
        softplus = xp.log1p(xp.exp(-xp.abs(x)))
        softplus += xp.maximum(-x, 0)  # softplus(-x), stable
        lw = None
        if pw is not None:
            lw = (pw - 1) * t
            lw += 1
        loss = (1 - t) * x
        loss += softplus if lw is None else lw * softplus
        if w is not None:
            loss *= w
        self.x, self.t, self.w, self.pw, self.lw, self.reduction = x, t, w, pw, lw, reduction
        if self.needs[1]:
            self.softplus = softplus
        return _reduce(loss, reduction)

    def backward(self, g: Any) -> tuple[Any, ...]:
        x, t, w, pw, lw = self.x, self.t, self.w, self.pw, self.lw
        up = _upstream(g, self.reduction, x.size)
        if w is not None:
            up = up * w
        gx = gt = None
        if self.needs[0]:
            sig = _sigmoid(x)
            if pw is None:
                gx = sig - t
            else:
                gx = sig * lw
                gx -= pw * t
            gx = gx * up
        if self.needs[1]:
            gt = -x if pw is None else (pw - 1) * self.softplus - x
            gt = sum_to(gt * up, t.shape)
        return gx, gt


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average: Any = None, reduce: Any = None,
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross entropy in one stable step. ``pos_weight`` (one per class, along
    the last dim) weighs positive examples, e.g. ``n_negative / n_positive``."""
    reduction = _reduction("binary_cross_entropy_with_logits", size_average, reduce, reduction)
    target = _pair("binary_cross_entropy_with_logits", input, target, same_shape=True)
    name = "binary_cross_entropy_with_logits"
    w = None if weight is None else _broadcast_weight(name, weight, input)
    pw = None if pos_weight is None else _broadcast_weight(name, pos_weight, input)
    return _BCEWithLogits.apply(input, target, w=w, pw=pw, reduction=reduction)
