"""Module hooks with PyTorch's semantics (a mixin of ``Module``): forward pre-hooks, forward
hooks, and full backward (pre-)hooks.

Backward hooks work as PyTorch's ``BackwardHook``: the module's tensor inputs and outputs pass
through identity Functions; the outputs' one records ``grad_output`` (and runs the pre-hooks,
which may replace it), the inputs' one receives ``grad_input`` and runs the hooks, which may
replace it. When no input needs a gradient the hooks run from the outputs' node with
``grad_input`` all None, as in PyTorch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...autograd.hooks import RemovableHandle
from ...tensor import Tensor


class _HookState:
    def __init__(self, module: Any, n_inputs: int, inputs_need_grad: bool) -> None:
        self.module = module
        self.n_inputs = n_inputs
        self.inputs_need_grad = inputs_need_grad
        self.grad_output: tuple[Any, ...] = ()


def _call_hooks(state: _HookState, grad_input: tuple[Any, ...]) -> tuple[Any, ...]:
    module = state.module
    for hook in list(module._backward_hooks.values()):
        result = hook(module, grad_input, state.grad_output)
        if result is not None:
            result = tuple(result) if isinstance(result, tuple | list) else (result,)
            if len(result) != len(grad_input):
                raise RuntimeError(
                    f"backward hook returned {len(result)} gradients for {len(grad_input)} "
                    f"inputs; return one per input (or None to keep them)"
                )
            grad_input = result
    return grad_input


class _HookOutputs(Function):
    @staticmethod
    def forward(ctx: Any, state: _HookState, *outputs: Tensor) -> tuple[Tensor, ...]:
        ctx.state = state
        ctx.set_materialize_grads(False)
        return outputs

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> tuple[Any, ...]:
        state = ctx.state
        module = state.module
        for hook in list(module._backward_pre_hooks.values()):
            result = hook(module, grad_outputs)
            if result is not None:
                grad_outputs = tuple(result) if isinstance(result, tuple | list) else (result,)
        state.grad_output = grad_outputs
        if not state.inputs_need_grad:
            _call_hooks(state, (None,) * state.n_inputs)
        return (None, *grad_outputs)


class _HookInputs(Function):
    @staticmethod
    def forward(ctx: Any, state: _HookState, *inputs: Tensor) -> tuple[Tensor, ...]:
        ctx.state = state
        ctx.set_materialize_grads(False)
        return inputs

    @staticmethod
    def backward(ctx: Any, *grad_inputs: Any) -> tuple[Any, ...]:
        return (None, *_call_hooks(ctx.state, grad_inputs))


def _through(fn: type, state: _HookState, values: Any) -> Any:
    """Pass the Tensors among ``values`` (one value or a tuple) through ``fn``'s identity."""
    single = not isinstance(values, tuple)
    items = list((values,) if single else values)
    where = [i for i, v in enumerate(items) if isinstance(v, Tensor)]
    if not where:
        return values
    out = fn.apply(state, *(items[i] for i in where))
    for i, t in zip(where, out):
        items[i] = t
    return items[0] if single else tuple(items)


class ModuleHooksMixin:
    _forward_hooks: OrderedDict[int, Any]
    _forward_pre_hooks: OrderedDict[int, Any]
    _backward_hooks: OrderedDict[int, Any]
    _backward_pre_hooks: OrderedDict[int, Any]
    _hooks_with_kwargs: set[int]
    forward: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks or self._backward_hooks or \
                self._backward_pre_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    args, kwargs = result
                continue
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        state = None
        if (self._backward_hooks or self._backward_pre_hooks) and is_grad_enabled():
            tensors = [a for a in args if isinstance(a, Tensor)]
            need = any(t.requires_grad for t in tensors)
            state = _HookState(self, len(tensors), need)
            if need:
                args = _through(_HookInputs, state, tuple(args))
        out = self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_hooks.items()):
            if hook_id in self._hooks_with_kwargs:
                result = hook(self, args, kwargs, out)
            else:
                result = hook(self, args, out)
            if result is not None:
                out = result
        if state is not None:
            out = _through(_HookOutputs, state, out)
        return out

    def _add_hook(self, store: OrderedDict[int, Any], hook: Callable[..., Any], prepend: bool,
                  with_kwargs: bool) -> RemovableHandle:
        handle = RemovableHandle(store, self._hooks_with_kwargs)
        store[handle.id] = hook
        if with_kwargs:
            self._hooks_with_kwargs.add(handle.id)
        if prepend:
            store.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` runs before ``forward``; a non-None result replaces the args
        (with ``with_kwargs=True``: ``hook(module, args, kwargs)`` returning both)."""
        return self._add_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args, output)`` runs after ``forward``; a non-None result replaces the
        output (how the editor reads activations without touching the model's code). With
        ``with_kwargs=True`` the hook is ``hook(module, args, kwargs, output)``."""
        return self._add_hook(self._forward_hooks, hook, prepend, with_kwargs)

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False
                                    ) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` runs when the gradients with respect to the
        module's inputs are computed; a non-None result replaces ``grad_input``."""
        return self._add_hook(self._backward_hooks, hook, prepend, False)

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], prepend: bool = False
                                        ) -> RemovableHandle:
        """``hook(module, grad_output)`` runs when the gradients with respect to the module's
        outputs are computed, before the module's own backward; a result replaces them."""
        return self._add_hook(self._backward_pre_hooks, hook, prepend, False)
