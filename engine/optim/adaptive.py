"""Adadelta, Adamax, NAdam, RAdam and Rprop, exactly as their ``torch.optim`` namesakes
(formulas, defaults, argument checks, state names).

Each is a thin class over one functional update on raw arrays (``*_update``), as the other
optimizers; they are less used, so their updates favour plain expressions over the scratch-buffer
tricks of SGD and Adam.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import xp_of
from .adam import _check_adam_like
from .optimizer import Optimizer, new_state_tensor

__all__ = ["Adadelta", "Adamax", "NAdam", "RAdam", "Rprop"]


def _check(name: str, value: float, low: float = 0.0) -> None:
    if not low <= value:
        raise ValueError(f"Invalid {name}: {value}")


class _PerParam(Optimizer):
    """A ``step`` that calls ``update(p, grad, state, group)`` for each parameter with a
    gradient, after ``init_state`` on its first step."""

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = self._eval_closure(closure)
        for group, p, state in self._params_with_grad():
            if len(state) == 0:
                self.init_state(p, state, group)
            g = p.grad._data
            if group.get("maximize"):
                g = -g
            self.update(p._data, g, state, group)
            p._vc.value += 1
        return loss

    # The per-parameter state tensors, zero at the first step (PyTorch's names and order).
    state_names: tuple[str, ...] = ()

    def init_state(self, p: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] = 0.0
        for name in self.state_names:
            state[name] = new_state_tensor(p)

    def update(self, pa: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError  # pragma: no cover


class Adadelta(_PerParam):
    """Adadelta: steps scaled by the ratio of running RMS of updates and of gradients.

    Args: params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False.
    """

    state_names = ("square_avg", "acc_delta")

    def __init__(self, params: Any, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False) -> None:
        _check("learning rate", lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check("epsilon value", eps)
        _check("weight_decay value", weight_decay)
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize})


    def update(self, pa: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp, rho, eps = xp_of(pa), group["rho"], group["eps"]
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * pa
        sq, acc = state["square_avg"]._data, state["acc_delta"]._data
        sq *= rho
        sq += (1 - rho) * g * g
        delta = xp.sqrt(acc + eps) / xp.sqrt(sq + eps) * g
        acc *= rho
        acc += (1 - rho) * delta * delta
        pa -= group["lr"] * delta


class Adamax(_PerParam):
    """Adam with the infinity norm: the step divides by a running max of |g|.

    Args: params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False.
    """

    state_names = ("exp_avg", "exp_inf")

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, *, maximize: bool = False) -> None:
        _check_adam_like(lr, betas, eps, weight_decay)
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "maximize": maximize})


    def update(self, pa: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = xp_of(pa)
        b1, b2 = group["betas"]
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * pa
        m, u = state["exp_avg"]._data, state["exp_inf"]._data
        m += (g - m) * (1 - b1)
        xp.maximum(u * b2, xp.abs(g) + group["eps"], out=u)
        clr = group["lr"] / (1 - b1 ** state["step"])
        pa -= clr * m / u


def _decay_and_moments(pa: Any, g: Any, state: dict[str, Any],
                       group: dict[str, Any]) -> tuple[Any, float, Any, Any]:
    """The start of an NAdam or RAdam step: count it, apply weight decay (decoupled: shrink the
    parameter; else add it to the gradient) and update the two moments in place. Returns the
    gradient used, the step number and the moments."""
    lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
    state["step"] += 1
    if wd:
        if group["decoupled_weight_decay"]:
            pa *= 1 - lr * wd
        else:
            g = g + wd * pa
    m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
    m += (g - m) * (1 - b1)
    v *= b2
    v += (1 - b2) * g * g
    return g, state["step"], m, v


class NAdam(_PerParam):
    """Adam with Nesterov momentum and PyTorch's momentum-decay schedule.

    Args: params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False.
    """

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False) -> None:
        _check_adam_like(lr, betas, eps, weight_decay)
        _check("momentum_decay value", momentum_decay)
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "momentum_decay": momentum_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize})

    def init_state(self, p: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] = 0.0
        state["mu_product"] = 1.0
        state["exp_avg"] = new_state_tensor(p)
        state["exp_avg_sq"] = new_state_tensor(p)

    def update(self, pa: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = xp_of(pa)
        lr, (b1, b2), decay = group["lr"], group["betas"], group["momentum_decay"]
        g, step, m, v = _decay_and_moments(pa, g, state, group)
        mu = b1 * (1.0 - 0.5 * 0.96 ** (step * decay))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
        # PyTorch keeps mu_product in a float32 scalar tensor: round as it does, so the steps
        # agree to the last bit rather than to 1e-7
        state["mu_product"] = float(np.float32(state["mu_product"]) * np.float32(mu))
        mu_product = state["mu_product"]
        denom = xp.sqrt(v / (1 - b2 ** step)) + group["eps"]
        pa += (-lr * (1.0 - mu) / (1.0 - mu_product)) * g / denom
        pa += (-lr * mu_next / (1.0 - mu_product * mu_next)) * m / denom


class RAdam(_PerParam):
    """Adam with the variance of the adaptive rate rectified (plain momentum while the estimate
    is unreliable, the first steps).

    Args: params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    decoupled_weight_decay=False, maximize=False.
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False) -> None:
        _check_adam_like(lr, betas, eps, weight_decay)
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize})

    state_names = ("exp_avg", "exp_avg_sq")

    def update(self, pa: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = xp_of(pa)
        lr, (b1, b2) = group["lr"], group["betas"]
        g, step, m, v = _decay_and_moments(pa, g, state, group)
        bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
        corrected = m / bc1
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * (b2 ** step) / bc2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            adaptive = (bc2 ** 0.5) / (xp.sqrt(v) + group["eps"])
            pa -= corrected * lr * adaptive * rect
        else:
            pa -= corrected * lr


class Rprop(_PerParam):
    """Resilient backpropagation: each weight's step grows (``etas[1]``) while its gradient
    keeps its sign and shrinks (``etas[0]``) when it flips; only the sign of the gradient is
    used.

    Args: params, lr=1e-2 (initial step), etas=(0.5, 1.2), step_sizes=(1e-6, 50),
    maximize=False.
    """

    def __init__(self, params: Any, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *,
                 maximize: bool = False) -> None:
        _check("learning rate", lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        super().__init__(params, {"lr": lr, "etas": etas, "step_sizes": step_sizes,
                                  "maximize": maximize})

    def init_state(self, p: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] = 0.0
        state["prev"] = new_state_tensor(p)
        state["step_size"] = new_state_tensor(p, fill=group["lr"])

    def update(self, pa: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = xp_of(pa)
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        state["step"] += 1
        prev, size = state["prev"]._data, state["step_size"]._data
        s = xp.sign(g * prev)
        factor = xp.where(s > 0, etaplus, xp.where(s < 0, etaminus, 1.0)).astype(pa.dtype)
        size *= factor
        xp.clip(size, lo, hi, out=size)
        g = xp.where(factor == etaminus, 0, g).astype(pa.dtype)
        pa -= xp.sign(g) * size
        prev[...] = g
