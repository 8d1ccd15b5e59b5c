"""Hooks on the autograd graph, with PyTorch's semantics: ``Tensor.register_hook`` (a function
of the gradient that may replace it), ``retain_grad``, ``grad_fn.next_functions`` and the handles
every ``register_*_hook`` returns.

A non-leaf tensor's hooks live on the node that produced it (each engine node has one output),
under ``_hooks``; a leaf's live on the tensor. ``autograd.engine`` calls them: a node's before its
backward runs (with the summed gradient), a leaf's once, on the summed gradient, before it is
accumulated into ``.grad``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any


class RemovableHandle:
    """Returned by the ``register_*_hook`` methods; ``remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Any], *extra: set[int]) -> None:
        self._hooks = hooks
        self._extra = extra
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)
        for ids in self._extra:
            ids.discard(self.id)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def add_hook(store: dict[int, Any], hook: Callable[..., Any]) -> RemovableHandle:
    handle = RemovableHandle(store)
    store[handle.id] = hook
    return handle


def run_hooks(hooks: dict[int, Any], g: Any, device: Any) -> Any:
    """Call each hook on the gradient (as a Tensor); a non-None result replaces it."""
    from . import function as _function  # noqa: PLC0415

    make = _function._tensor_cls._make
    for hook in list(hooks.values()):
        out = hook(make(g, device))
        if out is not None:
            if not isinstance(out, _function._tensor_cls):
                raise TypeError(
                    f"a gradient hook must return a Tensor or None, got {type(out).__name__}"
                )
            if out.shape != g.shape:
                raise RuntimeError(
                    f"a gradient hook returned shape {tuple(out.shape)} for a gradient of shape "
                    f"{tuple(g.shape)}; hooks must keep the shape"
                )
            g = out._data
    return g


def retain_hook(tensor: Any) -> Callable[[Any], None]:
    """The hook ``retain_grad`` puts on a non-leaf's node: accumulate the gradient into the
    tensor's ``.grad`` (weakly held, so the graph keeps no tensor alive)."""
    ref = weakref.ref(tensor)

    def hook(g: Any) -> None:
        t = ref()
        if t is None:
            return
        t._grad = g.detach().clone() if t._grad is None else t._grad + g.detach()

    hook.retains_grad = True  # type: ignore[attr-defined]
    return hook


class AccumulateGrad:
    """What ``next_functions`` shows for a leaf that requires grad, as in PyTorch: the node that
    accumulates into ``variable.grad``."""

    __slots__ = ("variable",)
    next_functions: tuple[()] = ()

    def __init__(self, variable: Any) -> None:
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    def __repr__(self) -> str:
        return "<AccumulateGrad>"
