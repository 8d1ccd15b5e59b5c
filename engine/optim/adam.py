"""Adam and AdamW (``torch.optim.Adam`` / ``torch.optim.AdamW``), with AMSGrad and maximize."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _cuda_kernels
from .._backend import xp_of
from .._cuda_kernels import on_gpu
from ..tensor import Tensor
from .optimizer import Optimizer, effective_grad, new_state_tensor

__all__ = ["Adam", "AdamW", "adam_update", "lerp_"]


def _check_adam_like(lr: float, betas: tuple[float, float], eps: float,
                     weight_decay: float) -> None:
    """PyTorch's argument checks shared by the Adam family."""
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    r"""Adam, exactly as ``torch.optim.Adam``.

    :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`, :math:`v \leftarrow \beta_2 v + (1-\beta_2)
    g^2`, :math:`p \leftarrow p - \frac{lr}{1-\beta_1^t} \cdot m / (\sqrt{v}/\sqrt{1-\beta_2^t}
    + \epsilon)`; with ``amsgrad`` the running maximum of :math:`v` replaces :math:`v`. Weight
    decay is added to the gradient (L2), or with ``decoupled_weight_decay=True`` (AdamW) it
    shrinks the parameter by ``1 - lr * weight_decay`` before the update.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate (default 1e-3).
        betas: coefficients of the running averages of the gradient and its square.
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: weight decay (default 0).
        amsgrad: use the AMSGrad variant.
        maximize: maximize the objective instead of minimizing it.
        decoupled_weight_decay: decay the weights directly, as AdamW does.

    Example:
        >>> opt = engine.optim.Adam(model.parameters(), lr=1e-3)
    """

    def __init__(self, params: Any, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        _check_adam_like(lr, betas, eps, weight_decay)
        defaults = {"lr": lr, "betas": (float(betas[0]), float(betas[1])), "eps": eps,
                    "weight_decay": weight_decay, "amsgrad": amsgrad, "maximize": maximize,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns the closure's loss if given."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0.0
                    state["exp_avg"] = new_state_tensor(p)
                    state["exp_avg_sq"] = new_state_tensor(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = new_state_tensor(p)
                adam_update(self, p, state, lr=group["lr"], beta1=beta1, beta2=beta2,
                            eps=group["eps"], weight_decay=group["weight_decay"],
                            amsgrad=group["amsgrad"], maximize=group["maximize"],
                            decoupled_weight_decay=group["decoupled_weight_decay"])
        return loss


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (``torch.optim.AdamW``; default decay 1e-2)."""

    def __init__(self, params: Any, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def _fix_loaded_group(self, group: dict[str, Any]) -> None:
        group["decoupled_weight_decay"] = True


def lerp_(xp: Any, start: Any, end: Any, weight: float, tmp: Any) -> None:
    """``start += weight * (end - start)`` in place, with PyTorch's two-sided lerp formula (it
    switches to ``end - (end - start) * (1 - weight)`` for weight >= 0.5 to stay exact at 1)."""
    xp.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        xp.multiply(tmp, weight, out=tmp)
        xp.add(start, tmp, out=start)
    else:
        xp.multiply(tmp, 1 - weight, out=tmp)
        xp.subtract(end, tmp, out=start)


def adam_update(opt: Optimizer, p: Tensor, state: dict[str, Any], *, lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                decoupled_weight_decay: bool) -> None:
    """One Adam/AdamW step for one parameter, in place on its raw array and state arrays."""
    pa = p._data
    xp = xp_of(pa)
    step = state["step"] = state["step"] + 1
    if on_gpu(xp, pa.dtype):  # one fused launch (a GPU step is launch-bound)
        _cuda_kernels.adam_update(
            pa, p.grad._data, state["exp_avg"]._data, state["exp_avg_sq"]._data,
            state["max_exp_avg_sq"]._data if amsgrad else None, lr=lr, beta1=beta1, beta2=beta2,
            eps=eps, weight_decay=weight_decay, maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay, step=step)
        p._vc.value += 1
        return
    if weight_decay != 0 and decoupled_weight_decay:
        xp.multiply(pa, 1 - lr * weight_decay, out=pa)
        weight_decay = 0
    g = effective_grad(xp, pa, p.grad._data, weight_decay, maximize, lambda: opt._buffer(pa, 0))
    exp_avg = state["exp_avg"]._data
    exp_avg_sq = state["exp_avg_sq"]._data
    tmp = opt._buffer(pa, 1)

    lerp_(xp, exp_avg, g, 1 - beta1, tmp)
    xp.multiply(exp_avg_sq, beta2, out=exp_avg_sq)
    xp.multiply(g, 1 - beta2, out=tmp)
    xp.multiply(tmp, g, out=tmp)
    xp.add(exp_avg_sq, tmp, out=exp_avg_sq)

    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    if amsgrad:
        max_sq = state["max_exp_avg_sq"]._data
        xp.maximum(max_sq, exp_avg_sq, out=max_sq)
        xp.sqrt(max_sq, out=tmp)
    else:
        xp.sqrt(exp_avg_sq, out=tmp)
    xp.divide(tmp, bias_correction2_sqrt, out=tmp)
    xp.add(tmp, eps, out=tmp)
    xp.divide(exp_avg, tmp, out=tmp)
    xp.multiply(tmp, -step_size, out=tmp)
    xp.add(pa, tmp, out=pa)
    p._vc.value += 1
