"""``Parameter``: a leaf tensor that a Module registers as learnable."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor


class Parameter(Tensor):
    """A tensor that requires grad and that ``Module.__setattr__`` registers automatically."""

    __slots__ = ()

    def __new__(cls, data: Any = None, requires_grad: bool = True) -> Parameter:
        from .. import creation  # noqa: PLC0415

        if data is None:
            data = creation.empty(0)
        p = object.__new__(cls)
        p.data = data.data
        p.requires_grad = False
        p.grad = None
        p.grad_fn = None
        p._device = data.device
        p._vc = data._vc
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, proto: Any) -> Any:
        from .. import tensor as _t  # noqa: PLC0415

        return (_rebuild_parameter, (self.cpu().data if self.device.type == "cpu" else
                                     self.data.get(), self.requires_grad, _t.__name__))


def _rebuild_parameter(arr: Any, requires_grad: bool, _mod: str) -> Parameter:
    from ..tensor import from_numpy  # noqa: PLC0415

    return Parameter(from_numpy(arr), requires_grad=requires_grad)
