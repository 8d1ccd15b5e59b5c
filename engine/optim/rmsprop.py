"""RMSprop (``torch.optim.RMSprop``), with momentum, centering, weight decay and maximize."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._backend import xp_of
from ..tensor import Tensor
from .adam import lerp_
from .optimizer import Optimizer, effective_grad, new_state_tensor

__all__ = ["RMSprop", "rmsprop_update"]


class RMSprop(Optimizer):
    r"""RMSprop, exactly as ``torch.optim.RMSprop``.

    :math:`v \leftarrow \alpha v + (1-\alpha) g^2`; the step divides :math:`g` by
    :math:`\sqrt{v} + \epsilon` (``centered``: by :math:`\sqrt{v - \bar g^2} + \epsilon` with
    :math:`\bar g` the running mean of :math:`g`), through a momentum buffer when momentum > 0.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant (default 0.99).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        momentum: momentum factor (default 0).
        centered: normalize by an estimate of the gradient's variance.
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns the closure's loss if given."""
        loss = self._eval_closure(closure)
        for group, p, state in self._params_with_grad():
            if len(state) == 0:
                state["step"] = 0.0
                state["square_avg"] = new_state_tensor(p)
                if group["momentum"] > 0:
                    state["momentum_buffer"] = new_state_tensor(p)
                if group["centered"]:
                    state["grad_avg"] = new_state_tensor(p)
            rmsprop_update(self, p, state, lr=group["lr"], alpha=group["alpha"],
                           eps=group["eps"], weight_decay=group["weight_decay"],
                           momentum=group["momentum"], centered=group["centered"],
                           maximize=group["maximize"])
        return loss


def rmsprop_update(opt: Optimizer, p: Tensor, state: dict[str, Any], *, lr: float, alpha: float,
                   eps: float, weight_decay: float, momentum: float, centered: bool,
                   maximize: bool) -> None:
    """One RMSprop step for one parameter, in place on its raw array and state arrays."""
    pa = p._data
    xp = xp_of(pa)
    state["step"] = state["step"] + 1
    g = effective_grad(xp, pa, p.grad._data, weight_decay, maximize, lambda: opt._buffer(pa, 0))
    square_avg = state["square_avg"]._data
    avg = opt._buffer(pa, 1)

    xp.multiply(square_avg, alpha, out=square_avg)
    xp.multiply(g, 1 - alpha, out=avg)
    xp.multiply(avg, g, out=avg)
    xp.add(square_avg, avg, out=square_avg)
    if centered:
        grad_avg = state["grad_avg"]._data
        lerp_(xp, grad_avg, g, 1 - alpha, avg)
        xp.multiply(grad_avg, grad_avg, out=avg)
        xp.subtract(square_avg, avg, out=avg)
        xp.sqrt(avg, out=avg)
    else:
        xp.sqrt(square_avg, out=avg)
    xp.add(avg, eps, out=avg)

    if momentum > 0:
        buf = state["momentum_buffer"]._data
        xp.divide(g, avg, out=avg)
        xp.multiply(buf, momentum, out=buf)
        xp.add(buf, avg, out=buf)
        xp.multiply(buf, -lr, out=avg)
    else:
        xp.divide(g, avg, out=avg)
        xp.multiply(avg, -lr, out=avg)
    xp.add(pa, avg, out=pa)
    p._vc.value += 1
