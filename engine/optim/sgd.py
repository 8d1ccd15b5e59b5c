"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay
(``torch.optim.SGD``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _cuda_kernels
from .._backend import xp_of
from .._cuda_kernels import on_gpu
from ..tensor import Tensor
from .optimizer import Optimizer, effective_grad

__all__ = ["SGD", "sgd_update"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum, exactly as ``torch.optim.SGD``.

    With gradient :math:`g` (plus ``weight_decay * p``; negated if ``maximize``), momentum
    :math:`\mu` and dampening :math:`\tau`: :math:`b \leftarrow \mu b + (1-\tau) g` (``b = g`` on
    the first step), then :math:`p \leftarrow p - lr \cdot (g + \mu b)` with ``nesterov`` or
    :math:`p \leftarrow p - lr \cdot b` without.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening for momentum (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: maximize the objective instead of minimizing it.

    Example:
        >>> opt = engine.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        >>> opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    """

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns the closure's loss if given."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = group["lr"]
            momentum = group["momentum"]
            dampening = group["dampening"]
            weight_decay = group["weight_decay"]
            nesterov = group["nesterov"]
            maximize = group["maximize"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p] if momentum != 0 else None
                sgd_update(self, p, state, lr=lr, momentum=momentum, dampening=dampening,
                           weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        return loss


def sgd_update(opt: Optimizer, p: Tensor, state: dict[str, Any] | None, *, lr: float,
               momentum: float, dampening: float, weight_decay: float, nesterov: bool,
               maximize: bool) -> None:
    """One SGD step for one parameter, in place on its raw array (see ``SGD`` for the rule)."""
    pa = p._data
    xp = xp_of(pa)
    if on_gpu(xp, pa.dtype):  # one fused launch instead of up to six (a GPU step is launch-bound)
        buf_t = None if state is None else state.get("momentum_buffer")
        first = state is not None and buf_t is None
        if first:
            buf_t = state["momentum_buffer"] = Tensor._make(xp.empty_like(pa), p.device)
        _cuda_kernels.sgd_update(pa, p.grad._data, None if buf_t is None else buf_t._data, lr=lr,
                                 momentum=momentum, dampening=dampening,
                                 weight_decay=weight_decay, nesterov=nesterov,
                                 maximize=maximize, first=first)
        p._vc.value += 1
        return
    g = effective_grad(xp, pa, p.grad._data, weight_decay, maximize, lambda: opt._buffer(pa, 0))
    d = g
    if state is not None:
        buf_t = state.get("momentum_buffer")
        if buf_t is None:
            buf_t = state["momentum_buffer"] = Tensor._make(g.copy(), p.device)
            buf = buf_t._data
        else:
            buf = buf_t._data
            xp.multiply(buf, momentum, out=buf)
            if dampening == 0:
                xp.add(buf, g, out=buf)
            else:
                tmp = opt._buffer(pa, 1)
                xp.multiply(g, 1 - dampening, out=tmp)
                xp.add(buf, tmp, out=buf)
        if nesterov:
            d = opt._buffer(pa, 1)
            xp.multiply(buf, momentum, out=d)
            xp.add(g, d, out=d)
        else:
            d = buf
    tmp = opt._buffer(pa, 1)
    xp.multiply(d, -lr, out=tmp)
    xp.add(pa, tmp, out=pa)
    p._vc.value += 1
