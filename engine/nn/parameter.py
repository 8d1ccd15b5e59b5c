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
        p = cls._make(data._data, data.device)
        p._vc = data._vc  # shares the data, so shares its version counter
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        # Stay on the same device (pickling goes through the host).
        from ..tensor import Tensor  # noqa: PLC0415

        if id(self) in memo:
            return memo[id(self)]
        with self.device.context():
            data = self._data.copy()
        p = Parameter(Tensor._make(data, self.device), requires_grad=self.requires_grad)
        if self.grad is not None:
            p.grad = Tensor._make(self.grad._data.copy(), self.device)
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, proto: Any) -> Any:
        host = self._data if self.device.type == "cpu" else self._data.get()
        return (_rebuild_parameter, (host, self.requires_grad, str(self.device)))


def _rebuild_parameter(arr: Any, requires_grad: bool, device: str = "cpu") -> Parameter:
    from ..tensor import from_numpy  # noqa: PLC0415

    t = from_numpy(arr)
    if device != "cpu":
        t = t.to(device)
    return Parameter(t, requires_grad=requires_grad)
