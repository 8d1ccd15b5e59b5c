"""Tensor members that talk to autograd (a mixin of ``engine.tensor.Tensor``): ``backward``,
``detach``, ``requires_grad_``, gradient hooks, ``retain_grad``, and ``.data`` / ``.grad`` with
PyTorch's semantics.

``.data`` is a Tensor, never the raw array: PyTorch code such as ``out.data.max(1)[1]`` must get
indices, not NumPy's maximum. It shares storage with the tensor, is detached, and has its own
version counter, so (as in PyTorch) changes made through it are invisible to autograd. The raw
NumPy/CuPy array is ``_data``, for the engine's own use.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import dtypes
from . import tensor as _t  # circular on purpose: method bodies only use it at call time
from .autograd import engine as _engine
from .autograd.hooks import RemovableHandle, add_hook, retain_hook

if TYPE_CHECKING:
    from .tensor import Tensor

_py_bool = builtins.bool


class TensorAutogradMixin:
    __slots__ = ()

    # ----------------------------------------------------------------- .data and .grad
    @property
    def data(self) -> Tensor:
        """This tensor's values as a new leaf that shares its storage, detached from the graph."""
        return _t.Tensor._make(self._data, self._device)

    @data.setter
    def data(self, value: Tensor) -> None:
        """Rebind this tensor to ``value``'s storage (PyTorch's ``set_data``): the shape and dtype
        may change, as in PyTorch, but not into something autograd can't use."""
        if not isinstance(value, _t.Tensor):
            raise TypeError(
                f".data must be set to a Tensor, got {type(value).__name__}; wrap it first: "
                f"t.data = engine.as_tensor(value)"
            )
        if self.requires_grad and value._data.dtype.kind != "f":
            raise RuntimeError(
                f".data: this tensor requires grad, so its data must be floating point, not "
                f"{dtypes.dtype_name(value._data.dtype)}; convert it first with .float()"
            )
        grad = self._grad
        if grad is not None and (grad.shape != value.shape or grad._data.dtype
                                 != value._data.dtype or grad._device is not value._device):
            raise RuntimeError(
                f".data: the new data ({tuple(value.shape)}, "
                f"{dtypes.dtype_name(value._data.dtype)}, {value._device}) does not fit the "
                f"existing .grad ({tuple(grad.shape)}, {dtypes.dtype_name(grad._data.dtype)}, "
                f"{grad._device}); set .grad = None first"
            )
        self._data = value._data
        self._device = value._device

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by ``backward`` (None until then, and for non-leaves unless
        ``retain_grad()`` was called)."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, _t.Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}; to clear it use .grad = None, to zero it "
                    f".grad.zero_()"
                )
            if value._device is not self._device:
                raise RuntimeError(
                    f"assigned grad has data located on a different device ({value._device}) "
                    f"than the tensor ({self._device}); move it with .to('{self._device}')"
                )
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(
                    f"assigned grad has data of a different type "
                    f"({dtypes.dtype_name(value._data.dtype)}) than the tensor "
                    f"({dtypes.dtype_name(self._data.dtype)}); convert it with "
                    f".to({dtypes.dtype_repr(self._data.dtype)})"
                )
            if value.shape != self.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: {tuple(value.shape)}, but the "
                    f"tensor has shape {tuple(self.shape)}"
                )
        self._grad = value

    @property
    def is_leaf(self) -> _py_bool:
        return self.grad_fn is None

    # ----------------------------------------------------------------- autograd
    def requires_grad_(self, requires_grad: _py_bool = True) -> Tensor:
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(
                f"only floating point tensors can require gradients, this one is "
                f"{dtypes.dtype_name(self._data.dtype)}; convert it first with .float()"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "requires_grad_(False) only works on leaf tensors; use .detach() for a non-leaf"
            )
        self.requires_grad = requires_grad
        return self

    def backward(self, gradient: Any = None, retain_graph: _py_bool | None = None,
                 create_graph: _py_bool = False, inputs: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        if create_graph:
            raise NotImplementedError(
                "backward(create_graph=True): higher-order gradients are not supported by the "
                "engine; compute second derivatives numerically or with PyTorch"
            )
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad and has no grad_fn: nothing that "
                "produced it needs a gradient. Fix: create the inputs or parameters with "
                "requires_grad=True (and don't compute it under engine.no_grad())"
            )
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"backward(): grad can be implicitly created only for scalar outputs, but this "
                    f"tensor has shape {tuple(self.shape)}. Fix: reduce it first (.sum() or "
                    f".mean()), or pass gradient= a tensor of shape {tuple(self.shape)}"
                )
            g = self._device.xp.ones(self.shape, dtype=self._data.dtype)
        else:
            g = _t._as_array_like(gradient, self)
            if g.shape != self.shape:
                raise RuntimeError(
                    f"backward(): gradient has shape {tuple(g.shape)} but the tensor has shape "
                    f"{tuple(self.shape)}; they must match"
                )
        if inputs is not None:
            from .autograd import grad as _grad  # noqa: PLC0415

            ins = [inputs] if isinstance(inputs, _t.Tensor) else list(inputs)
            got = _grad(self, ins, _t.Tensor._make(g, self._device), retain_graph=_py_bool(
                retain_graph), allow_unused=True)
            for t, gi in zip(ins, got):
                if gi is not None:
                    t._grad = gi if t._grad is None else t._grad + gi
            return
        _engine.run_backward([self], [g], retain_graph=_py_bool(retain_graph))

    def detach(self) -> Tensor:
        t = _t.Tensor._make(self._data, self._device)
        t._vc = self._vc
        return t

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """``hook(grad)`` runs when this tensor's gradient is computed; a Tensor it returns
        replaces the gradient (what flows on, or what a leaf accumulates)."""
        if not self.requires_grad:
            raise RuntimeError(
                "cannot register a hook on a tensor that doesn't require gradient; call "
                ".requires_grad_() first"
            )
        return add_hook(self._hook_store(), hook)

    def _hook_store(self) -> dict[int, Any]:
        fn = self.grad_fn
        if fn is not None:
            return fn.__dict__.setdefault("_hooks", {})
        if self._hooks is None:
            self._hooks = {}
        return self._hooks

    def retain_grad(self) -> None:
        """Keep this non-leaf's gradient in ``.grad`` after backward (a no-op on leaves)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that has requires_grad=False")
        if self.grad_fn is None or self.retains_grad:
            return
        add_hook(self._hook_store(), retain_hook(self))

    @property
    def retains_grad(self) -> _py_bool:
        fn = self.grad_fn
        if fn is None:
            return False
        return any(getattr(h, "retains_grad", False) for h in fn.__dict__.get("_hooks", {})
                   .values())
