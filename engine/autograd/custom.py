"""PyTorch-style custom autograd Functions: a subclass of ``engine.autograd.Function`` whose
``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)`` are static methods working on
Tensors, with ``ctx.save_for_backward`` / ``ctx.saved_tensors``, ``ctx.needs_input_grad``,
``ctx.mark_non_differentiable`` and ``ctx.set_materialize_grads``, as in PyTorch.

``Function.__init_subclass__`` routes such subclasses' ``apply`` here. The graph node (and the
``ctx``) is a ``CustomNode``, never an instance of the user's class, as in PyTorch where
``grad_fn`` is a generated ``<Name>Backward`` node. A forward with several outputs gives each
output a small selector node; their gradients meet in the Function's node as a ``PerOutput``,
whose ``+`` merges them (the engine sums what reaches a node with ``+``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .function import Function
from .grad_mode import no_grad


class PerOutput:
    """The gradients of some outputs of a multi-output node, by output index."""

    __slots__ = ("grads",)

    def __init__(self, grads: dict[int, Any]) -> None:
        self.grads = grads

    def __add__(self, other: PerOutput) -> PerOutput:
        merged = dict(self.grads)
        for i, g in other.grads.items():
            merged[i] = g if i not in merged else merged[i] + g
        return PerOutput(merged)


class OutputSelect(Function):
    """Output ``index`` of a multi-output node: passes its gradient on, tagged with the index."""

    @property
    def name(self) -> str:
        return self.next[0].name if self.next else "OutputSelectBackward"

    def backward(self, g: Any) -> tuple[Any]:
        return (PerOutput({self.index: g}),)


class CustomNode(Function):
    """The graph node of one call of a custom Function; also the ``ctx`` its methods receive."""

    def __init__(self, fn_cls: type) -> None:
        self.fn_cls = fn_cls
        self.materialize_grads = True
        self.non_differentiable: set[int] = set()
        self.to_save: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        return self.fn_cls.__name__ + "Backward"

    # ----------------------------------------------------------------- the ctx API
    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors (or None) for backward; in-place changes to them before backward are
        detected, as for the engine's own ops."""
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        saved = self.__dict__.get("saved")
        if saved is None:
            raise RuntimeError(
                f"{self.name}: the saved tensors were already freed by an earlier backward; pass "
                f"retain_graph=True to the first backward() to go through the graph twice"
            )
        return saved

    def mark_non_differentiable(self, *outputs: Any) -> None:
        self.non_differentiable |= {id(o) for o in outputs}

    def set_materialize_grads(self, value: bool) -> None:
        """With False, backward receives None (not zeros) for outputs that got no gradient."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors: Any) -> None:
        raise NotImplementedError(
            "ctx.mark_dirty: custom Functions that modify their inputs in place are not supported "
            "by the engine; return a new tensor from forward instead"
        )

    # ----------------------------------------------------------------- backward
    def backward(self, g: Any) -> tuple[Any, ...]:
        from .function import _tensor_cls as Tensor  # noqa: PLC0415

        shapes = self.__dict__["out_meta"]
        by_index = g.grads if isinstance(g, PerOutput) else {0: g}
        grads = []
        for i, (shape, dtype, device) in enumerate(shapes):
            gi = by_index.get(i)
            if gi is None and self.materialize_grads:
                gi = device.xp.zeros(shape, dtype=dtype)
            grads.append(None if gi is None else Tensor._make(gi, device))
        with no_grad():
            result = self.fn_cls.backward(self, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        return self._check_grads(result)

    def _check_grads(self, result: tuple[Any, ...]) -> tuple[Any, ...]:
        """One array per input, each of its input's shape and dtype, as PyTorch validates."""
        from ..ops.util import sum_to  # noqa: PLC0415
        from .function import _tensor_cls as Tensor  # noqa: PLC0415

        metas = self.__dict__["in_meta"]
        if len(result) < len(metas) or any(r is not None for r in result[len(metas):]):
            raise RuntimeError(
                f"{self.name}: backward returned {len(result)} gradients but forward had "
                f"{len(metas)} inputs; return one per input (None for those that need none)"
            )
        out = []
        for i, (meta, need) in enumerate(zip(metas, self.needs)):
            r = result[i]
            if not need or r is None:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                raise TypeError(f"{self.name}: backward returned a {type(r).__name__} for input "
                                f"{i}; gradients must be Tensors or None")
            shape, dtype = meta
            arr = r._data
            if tuple(arr.shape) != tuple(shape):
                if not _expandable(tuple(shape), tuple(arr.shape)):
                    raise RuntimeError(
                        f"{self.name} returned an invalid gradient at index {i}: got shape "
                        f"{tuple(r.shape)} but expected shape compatible with {tuple(shape)}"
                    )
                arr = sum_to(arr, tuple(shape))  # PyTorch sums a broadcast gradient back
            if arr.dtype != dtype:
                arr = arr.astype(dtype)
            out.append(arr)
        return tuple(out)


def custom_apply(cls: type, *args: Any, **kwargs: Any) -> Any:
    """``MyFunction.apply(*args)``: run ``forward`` without recording, then make one node that
    sends the outputs' gradients through ``backward``."""
    from .function import _tensor_cls as Tensor  # noqa: PLC0415
    from .grad_mode import is_grad_enabled  # noqa: PLC0415

    node = CustomNode(cls)
    recording = is_grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad
                                          for a in args)
    node.needs = tuple(recording and isinstance(a, Tensor) and a.requires_grad for a in args)
    node.needs_input_grad = node.needs
    with no_grad():
        if _has_setup_context(cls):
            outputs = cls.forward(*args, **kwargs)
            cls.setup_context(node, args, outputs)
        else:
            outputs = cls.forward(node, *args, **kwargs)
    single = not isinstance(outputs, tuple)
    outs = (outputs,) if single else outputs
    if not recording:
        return outputs
    tensor_args = [a for a in args if isinstance(a, Tensor)]
    node.next = tuple((a.grad_fn or a) if isinstance(a, Tensor) and a.requires_grad else None
                      for a in args)
    node._freed = False
    node.in_meta = [(a.shape, a._data.dtype) if isinstance(a, Tensor) else None for a in args]
    saved = node.to_save
    node.saved = saved
    node._versions = [(t._vc, t._vc.value) for t in saved if isinstance(t, Tensor)]
    node.out_meta = [(o.shape, o._data.dtype, o._device) if isinstance(o, Tensor) else
                     ((), None, None) for o in outs]
    results = []
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            results.append(o)
            continue
        differentiable = o._data.dtype.kind == "f" and id(o) not in node.non_differentiable
        if not differentiable:
            results.append(Tensor._make(o._data, o._device))
            continue
        if single:
            grad_fn: Function = node
        else:
            grad_fn = OutputSelect.__new__(OutputSelect)
            grad_fn.index = i
            grad_fn.next = (node,)
            grad_fn.needs = (True,)
            grad_fn._freed = False
            grad_fn._versions = ()
        t = Tensor._make(o._data, o._device, True, grad_fn)
        if any(o._data is a._data for a in tensor_args):
            t._vc = o._vc  # an input returned as it is: the same storage
        results.append(t)
    return results[0] if single else tuple(results)


def _expandable(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to exactly ``to``."""
    if len(shape) > len(to):
        return False
    return all(s in (1, t) for s, t in zip(shape[::-1], to[::-1]))


def _has_setup_context(cls: type) -> bool:
    return getattr(cls, "setup_context", None) is not getattr(Function, "setup_context", None)


def once_differentiable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """PyTorch's decorator for backwards that are not themselves differentiable: every engine
    backward is (it runs without recording), so this changes nothing."""
    return fn
