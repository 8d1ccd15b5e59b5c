"""Graph nodes. Each primitive op is one ``Function`` subclass with its forward and backward side
by side, working on raw arrays (NumPy or CuPy): the Tensor wrapper is added once, in ``apply``.

A node keeps only what its backward needs (set in ``forward``) and, for each input, where its
gradient goes next (``next``): the input's own node, or the leaf tensor that accumulates it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .grad_mode import is_grad_enabled


class VersionCounter:
    """Shared by a tensor and its views; bumped by every in-place write."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class Function:
    """Base of every differentiable op.

    Subclasses set ``saves`` (positions of inputs whose data backward reads) and
    ``saves_output`` so in-place writes to those tensors are detected at backward time, and
    implement ``forward(*arrays)`` and ``backward(grad) -> tuple`` (one entry per input; None where
    no gradient flows). ``self.needs[i]`` tells forward/backward which inputs want a gradient.
    """

    __slots__ = ("next", "needs", "_versions", "_freed", "__weakref__", "__dict__")
    saves: ClassVar[tuple[int, ...]] = ()
    saves_output: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """The op's name as users see it in errors (``MulBackward``, like PyTorch's grad_fn)."""
        return type(self).__name__ + "Backward"

    def __repr__(self) -> str:
        return f"<{self.name}>"

    def forward(self, *args: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad: Any) -> tuple[Any, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        from ..tensor import Tensor  # noqa: PLC0415 - cycle: tensor imports ops

        device = None
        requires = False
        raw = []
        for a in args:
            if isinstance(a, Tensor):
                if device is None:
                    device = a._device
                elif a._device is not device:
                    _raise_mixed_devices(cls, device, a._device)
                if a.requires_grad:
                    requires = True
                raw.append(a.data)
            else:
                raw.append(a)
        node = cls.__new__(cls)
        if requires and is_grad_enabled():
            node.needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
            if device.is_cuda:
                with device.context():
                    out = node.forward(*raw, **kwargs)
            else:
                out = node.forward(*raw, **kwargs)
            node.next = tuple(
                (a.grad_fn if a.grad_fn is not None else a) if n else None
                for a, n in zip(args, node.needs)
            )
            node._freed = False
            versions = [(args[i]._vc, args[i]._vc.value) for i in cls.saves
                        if isinstance(args[i], Tensor)]
            result = Tensor._make(out, device, True, node)
            if cls.saves_output:
                versions.append((result._vc, 0))
            node._versions = versions
            return result
        node.needs = _NO_GRAD_NEEDS
        if device is not None and device.is_cuda:
            with device.context():
                out = node.forward(*raw, **kwargs)
        else:
            out = node.forward(*raw, **kwargs)
        return Tensor._make(out, device, False, None)


class _NoNeeds(tuple):
    """``needs`` outside recording: every position is False."""

    def __getitem__(self, i: Any) -> bool:  # type: ignore[override]
        return False


_NO_GRAD_NEEDS = _NoNeeds()


def _raise_mixed_devices(cls: type, a: Any, b: Any) -> None:
    from ..errors import DeviceError  # noqa: PLC0415

    raise DeviceError(
        f"{cls.__name__.lower()}: expected all tensors on the same device, but found at least "
        f"two devices, {a} and {b}; move them first with .to('{a}') or .to('{b}')"
    )
