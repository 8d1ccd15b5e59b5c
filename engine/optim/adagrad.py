"""Adagrad (``torch.optim.Adagrad``), with learning-rate decay, weight decay and maximize."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._backend import xp_of
from ..tensor import Tensor
from .optimizer import Optimizer, effective_grad, new_state_tensor

__all__ = ["Adagrad", "adagrad_update"]


class Adagrad(Optimizer):
    r"""Adagrad, exactly as ``torch.optim.Adagrad``.

    :math:`s \leftarrow s + g^2`, :math:`p \leftarrow p - \frac{lr}{1 + (t-1)\,lr\_decay} \cdot
    g / (\sqrt{s} + \epsilon)`.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        initial_accumulator_value: starting value of the sum of squares (default 0).
        eps: added to the denominator for numerical stability (default 1e-10).
        maximize: maximize the objective instead of minimizing it.
    """

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "maximize": maximize}
        super().__init__(params, defaults)
        # Like PyTorch, the state exists from the start (so state_dict() of a fresh Adagrad
        # already holds the accumulators).
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = 0.0
            state["sum"] = new_state_tensor(p, group["initial_accumulator_value"])
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns the closure's loss if given."""
        loss = self._eval_closure(closure)
        for group, p, _ in self._params_with_grad():
            state = self._init_state(p, group)  # also covers groups added later
            adagrad_update(self, p, state, lr=group["lr"], lr_decay=group["lr_decay"],
                           eps=group["eps"], weight_decay=group["weight_decay"],
                           maximize=group["maximize"])
        return loss


def adagrad_update(opt: Optimizer, p: Tensor, state: dict[str, Any], *, lr: float,
                   lr_decay: float, eps: float, weight_decay: float, maximize: bool) -> None:
    """One Adagrad step for one parameter, in place on its raw array and state arrays."""
    pa = p._data
    xp = xp_of(pa)
    step = state["step"] = state["step"] + 1
    g = effective_grad(xp, pa, p.grad._data, weight_decay, maximize, lambda: opt._buffer(pa, 0))
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum = state["sum"]._data
    tmp = opt._buffer(pa, 1)
    xp.multiply(g, g, out=tmp)
    xp.add(state_sum, tmp, out=state_sum)
    xp.sqrt(state_sum, out=tmp)
    xp.add(tmp, eps, out=tmp)
    xp.divide(g, tmp, out=tmp)
    xp.multiply(tmp, -clr, out=tmp)
    xp.add(pa, tmp, out=pa)
    p._vc.value += 1
