"""Reverse-mode automatic differentiation: ``grad``, ``gradcheck``, grad-mode switches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .custom import once_differentiable
from .function import Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import gradcheck

__all__ = ["Function", "enable_grad", "grad", "gradcheck", "is_grad_enabled", "no_grad",
           "once_differentiable", "set_grad_enabled"]


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool = False,
         allow_unused: bool = False) -> tuple[Any, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned rather than accumulated."""
    from ..tensor import Tensor  # noqa: PLC0415
    from .engine import run_backward  # noqa: PLC0415

    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        gouts: Sequence[Any] = [None] * len(outs)
    else:
        gouts = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    root_grads = []
    for o, g in zip(outs, gouts):
        if not o.requires_grad:
            raise RuntimeError(
                "grad(): an output does not require grad; nothing that produced it needs a "
                "gradient"
            )
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(
                    f"grad(): grad can be implicitly created only for scalar outputs; this output "
                    f"has shape {tuple(o.shape)}: pass grad_outputs"
                )
            root_grads.append(o.device.xp.ones(o.shape, dtype=o.dtype))
        else:
            root_grads.append(g._data if isinstance(g, Tensor) else g)
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError("grad(): one of the inputs does not require grad")
    results = run_backward(outs, root_grads, retain_graph=retain_graph, capture=ins)
    out = []
    for t, r in zip(ins, results):
        if r is None:
            if not allow_unused:
                raise RuntimeError(
                    "grad(): one of the inputs was not used to compute the outputs; pass "
                    "allow_unused=True if that is expected"
                )
            out.append(None)
        else:
            r = r.reshape(t.shape)
            if r.base is not None:  # a broadcast or a view of some other gradient: own it
                r = r.copy()
            out.append(Tensor._make(r, t.device))
    return tuple(out)
