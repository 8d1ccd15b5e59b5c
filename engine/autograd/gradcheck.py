"""Numerical gradient checking: the engine's gradients against float64 central differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Compare analytical and numerical gradients of ``fn(*inputs)``.

    Inputs that require grad must be float64 (float32 differences are too coarse to tell a wrong
    gradient from rounding). The output may be any shape: it is reduced with a fixed random
    weighting so every output element's gradient is tested.
    """
    from ..tensor import Tensor  # noqa: PLC0415
    from . import grad as autograd_grad  # noqa: PLC0415
    from .grad_mode import no_grad  # noqa: PLC0415

    targets = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if not targets:
        raise ValueError("gradcheck(): no input requires grad")
    for x in targets:
        if x.dtype != np.float64:
            raise ValueError(
                f"gradcheck(): inputs must be float64 for reliable differences, got {x.dtype}; "
                f"create them with dtype=engine.float64"
            )

    def reduced(out: Any, weights: list[Any]) -> Any:
        outs = out if isinstance(out, tuple | list) else (out,)
        total = None
        for o, w in zip(outs, weights):
            if o is None or not isinstance(o, Tensor) or o.dtype.kind != "f":
                continue
            term = (o * Tensor._make(w, o.device)).sum()
            total = term if total is None else total + term
        return total

    first = fn(*inputs)
    outs = first if isinstance(first, tuple | list) else (first,)
    rng = np.random.default_rng(0)
    weights = [o.device.xp.asarray(rng.standard_normal(o.shape)) if isinstance(o, Tensor) else None
               for o in outs]
    loss = reduced(first, weights)
    analytical = autograd_grad(loss, targets, allow_unused=True)

    for x, a in zip(targets, analytical):
        # Index the array itself (not a flattened copy): inputs may be non-contiguous views.
        num = np.zeros(x.numel(), dtype=np.float64)
        for i, idx in enumerate(np.ndindex(*x.shape)):
            orig = x._data[idx].item()
            with no_grad():
                x._data[idx] = orig + eps
                plus = reduced(fn(*inputs), weights).item()
                x._data[idx] = orig - eps
                minus = reduced(fn(*inputs), weights).item()
                x._data[idx] = orig
            num[i] = (plus - minus) / (2 * eps)
        ana = np.zeros_like(num) if a is None else np.asarray(a.detach().cpu()._data).reshape(-1)
        bad = np.abs(ana - num) > atol + rtol * np.abs(num)
        if bad.any():
            i = int(np.argmax(bad))
            msg = (f"gradcheck(): gradient mismatch for input of shape {tuple(x.shape)} at flat "
                   f"index {i}: analytical {ana[i]:.8g}, numerical {num[i]:.8g} "
                   f"({int(bad.sum())} of {bad.size} elements differ)")
            if raise_exception:
                raise AssertionError(msg)
            return False
    return True
