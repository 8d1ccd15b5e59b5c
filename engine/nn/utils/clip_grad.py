"""Gradient clipping, as ``torch.nn.utils``: call between ``backward()`` and ``step()``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: Any = None) -> Tensor:
    """Scale all gradients together so their joint norm is at most ``max_norm``.

    Returns the total norm before clipping (a 0-d tensor), handy for logging exploding
    gradients.
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        from ... import creation  # noqa: PLC0415

        return creation.zeros(())
    dev = grads[0].device
    xp = dev.xp
    dtype = grads[0].dtype
    if math.isinf(norm_type):
        norms = [xp.abs(g._data).max() if g._data.size else xp.zeros((), dtype) for g in grads]
        total = xp.max(xp.stack(norms)) if norm_type > 0 else xp.min(xp.stack(
            [xp.abs(g._data).min() for g in grads]))
    elif norm_type == 2.0:
        total = xp.sqrt(sum(xp.vdot(g._data.ravel(), g._data.ravel()) for g in grads))
    else:
        total = sum((xp.abs(g._data) ** norm_type).sum() for g in grads) ** (1.0 / norm_type)
    total = xp.asarray(total, dtype=dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            f"non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            f"by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0).astype(dtype)
    for g in grads:
        g._data *= coef
        g._vc.value += 1
    return Tensor._make(total, dev)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: Any = None) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.device.xp.clip(g._data, -clip_value, clip_value, out=g._data)
        g._vc.value += 1
