"""More losses of ``engine.nn.functional`` (Huber/smooth L1, KL divergence, margin and
embedding losses, Poisson NLL), composed of differentiable primitives with PyTorch's formulas
and reductions."""

from __future__ import annotations

import math
from typing import Any

from ..tensor import Tensor, where
from ._functional_util import _reduce, _reduction

__all__ = ["cosine_embedding_loss", "huber_loss", "kl_div", "margin_ranking_loss",
           "poisson_nll_loss", "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss"]


def _check_same(name: str, input: Tensor, target: Tensor) -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{name}: target size {tuple(target.shape)} differs from input size "
                         f"{tuple(input.shape)}; give them the same shape")


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",
               delta: float = 1.0, weight: Tensor | None = None) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, ``delta (|d| - 0.5 delta)`` beyond."""
    _check_same("huber_loss", input, target)
    reduction = _reduction("huber_loss", None, None, reduction)
    d = (input - target).abs()
    loss = where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Huber loss divided by ``beta`` (``beta`` = 0: L1)."""
    _check_same("smooth_l1_loss", input, target)
    reduction = _reduction("smooth_l1_loss", size_average, reduce, reduction)
    d = (input - target).abs()
    loss = d if beta == 0 else where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """``target * (log target - input)`` with ``input`` log-probabilities (0 where target is 0).
    ``reduction='batchmean'`` divides the sum by the batch size (the mathematically right KL)."""
    if reduction == "batchmean":
        red = "sum"
    else:
        red = _reduction("kl_div", size_average, reduce, reduction)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        safe = where(target > 0, target, 1.0)
        loss = where(target > 0, target * (safe.log() - input), 0.0)
    out = _reduce(loss, red)
    if reduction == "batchmean" and input.ndim:
        out = out / input.shape[0]
    return out


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    reduction = _reduction("margin_ranking_loss", size_average, reduce, reduction)
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0.0), reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average: Any = None, reduce: Any = None,
                          reduction: str = "mean") -> Tensor:
    """``1 - cos`` for pairs marked 1, ``max(0, cos - margin)`` for pairs marked -1."""
    reduction = _reduction("cosine_embedding_loss", size_average, reduce, reduction)
    eps = 1e-12  # PyTorch's EPSILON inside the norms
    dot = (input1 * input2).sum(-1)
    mag = ((input1 * input1).sum(-1) + eps) * ((input2 * input2).sum(-1) + eps)
    cos = dot / mag.sqrt()
    loss = where(target == 1, 1 - cos, where(target == -1, (cos - margin).clamp(min=0.0), 0.0))
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                        swap: bool = False, size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    from ._functional_more import pairwise_distance  # noqa: PLC0415

    reduction = _reduction("triplet_margin_loss", size_average, reduce, reduction)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        from ..tensor import minimum  # noqa: PLC0415

        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce((d_pos - d_neg + margin).clamp(min=0.0), reduction)


def soft_margin_loss(input: Tensor, target: Tensor, size_average: Any = None,
                     reduce: Any = None, reduction: str = "mean") -> Tensor:
    reduction = _reduction("soft_margin_loss", size_average, reduce, reduction)
    return _reduce((-target * input).exp().log1p(), reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average: Any = None, eps: float = 1e-8, reduce: Any = None,
                     reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` under Poisson(``input``) (``exp(input)`` when
    ``log_input``); ``full`` adds Stirling's term where target > 1."""
    reduction = _reduction("poisson_nll_loss", size_average, reduce, reduction)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        safe = where(target > 1, target, 2.0)
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)
