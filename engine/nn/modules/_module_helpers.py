"""Small pieces of ``Module`` kept apart so module.py stays about the class itself: hook
handles, the ``load_state_dict`` result, repr indentation and checkpoint conversion."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..._backend import cupy_if_loaded, to_device_array
from ...autograd.hooks import RemovableHandle
from ...tensor import Tensor

__all__ = ["RemovableHandle"]


def _addindent(s: str, num_spaces: int) -> str:
    """Indent every line but the first (how PyTorch nests children in a repr)."""
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    rest = "\n".join((num_spaces * " ") + line if line.strip() else "" for line in lines)
    return first + "\n" + rest


class _IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (f"_IncompatibleKeys(missing_keys={self.missing_keys}, "
                f"unexpected_keys={self.unexpected_keys})")

    __str__ = __repr__


def _typename(obj: Any) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _shape_str(shape: tuple[int, ...]) -> str:
    return str(tuple(int(s) for s in shape))


def _replace_data(t: Tensor, new: Tensor) -> None:
    """Give ``t`` the array (and device) of ``new`` without creating a new Tensor object."""
    if new is t:
        return
    t._data = new._data
    t._device = new._device


def _as_host_or_device_array(value: Any, like: Tensor) -> Any:
    """A checkpoint entry as a raw array on ``like``'s device (no copy when already there)."""
    if isinstance(value, Tensor):
        arr = value._data
    else:
        cp = cupy_if_loaded()
        if cp is not None and isinstance(value, cp.ndarray):
            arr = value
        elif hasattr(value, "__array__") or isinstance(value, list | tuple | float | int):
            arr = np.asarray(value)  # NumPy arrays, lists, PyTorch CPU tensors
        else:
            raise TypeError("not array-like")
    return to_device_array(arr, like._device)
