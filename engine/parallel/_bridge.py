"""The graph node that joins a data-parallel module's output to the caller's graph.

The engine has no backward hooks, so data parallelism gets its "gradients are ready" moment the
way autograd itself offers it: the module's output reaches the caller through one ``Bridge``
node whose inputs are not the replicas' outputs but a dummy leaf (``anchor``). When the caller's
backward reaches the bridge it hands the incoming gradient to ``on_backward``, which runs the
replicas' own backward passes (concurrently, each on its device), reduces their parameter
gradients and writes them into the parameters' ``.grad``; the caller's backward then goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._backend import xp_of
from ..autograd.function import Function
from ..tensor import Tensor


class Bridge(Function):
    """Forward: return ``value`` (a raw array). Backward: call ``on_backward(grad)``."""

    def forward(self, anchor: Any, value: Any, on_backward: Callable[[Any], None]) -> Any:
        self.on_backward = on_backward
        return value

    def backward(self, grad: Any) -> tuple[Any, ...]:
        self.on_backward(grad)
        return (None, None, None)


def make_anchor(like: Tensor) -> Tensor:
    """A 0-d leaf that requires grad, on ``like``'s device: it makes ``Bridge`` record a node.
    Its ``.grad`` is never written (the bridge returns None for it)."""
    xp = xp_of(like._data)
    t = Tensor._make(xp.zeros((), dtype=like.dtype if like.dtype.kind == "f" else "float32"),
                     like.device)
    t.requires_grad = True
    return t


def bridge(value: Tensor, anchor: Tensor, on_backward: Callable[[Any], None]) -> Tensor:
    """``value``'s data as a new tensor whose backward calls ``on_backward``."""
    out = Bridge.apply(anchor, value._data, on_backward)
    out._device = value.device
    return out


def accumulate_grad(p: Tensor, g: Any, owned: bool) -> None:
    """Add ``g`` to ``p.grad`` as autograd would (out of place; copying unless ``owned``)."""
    if g.dtype != p._data.dtype:
        g = g.astype(p._data.dtype)
        owned = True
    if g.shape != p._data.shape:
        g = g.reshape(p._data.shape)
    if p.grad is None:
        p.grad = Tensor._make(g if owned else g.copy(), p.device)
    else:
        p.grad._data = p.grad._data + g
