"""The one array-module switch: every op asks its tensor's device for ``xp`` (NumPy or CuPy).

CuPy is imported only when a CUDA device is first asked for, so the engine works on machines that
have never heard of CUDA.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .errors import DeviceError

_cupy: Any = None
_cupy_error: str | None = None


def cupy_module() -> Any:
    """Import CuPy once; raise a DeviceError that says what to install when it cannot be had."""
    global _cupy, _cupy_error
    if _cupy is not None:
        return _cupy
    if _cupy_error is None:
        try:
            import cupy  # noqa: PLC0415 - imported lazily on purpose

            cupy.cuda.runtime.getDeviceCount()
            _cupy = cupy
            return cupy
        except ImportError:
            _cupy_error = (
                "CUDA needs CuPy, which is not installed: "
                "pip install 'layerforge[cuda12]' (or [cuda13] for CUDA 13 drivers)"
            )
        except Exception as exc:  # CuPy present but no driver/GPU: keep its reason
            _cupy_error = f"CuPy is installed but no CUDA GPU is usable here ({exc})"
    raise DeviceError(_cupy_error)


def cupy_if_loaded() -> Any:
    """CuPy if some CUDA device was already used, else None (never triggers an import)."""
    return _cupy


class Device:
    """A device: ``cpu`` or ``cuda:N``. Interned, so ``a.device is b.device`` is a cheap test."""

    __slots__ = ("type", "index", "xp", "_str")

    def __init__(self, type_: str, index: int | None, xp: Any) -> None:
        self.type = type_
        self.index = index
        self.xp = xp
        self._str = type_ if index is None else f"{type_}:{index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + (
            "" if self.index is None else f", index={self.index}"
        ) + ")"

    def __str__(self) -> str:
        return self._str

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Device):
            return self is other or self._str == other._str
        if isinstance(other, str):
            try:
                other = get_device(other)
            except (DeviceError, ValueError):
                return False
        return self is other

    def __hash__(self) -> int:
        return hash(self._str)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle (and deepcopy) by name: the array module itself can't be pickled.
        return (get_device, (self._str,))

    @property
    def is_cuda(self) -> bool:
        return self.type == "cuda"

    def context(self) -> Any:
        """A context manager that makes this device current (a no-op on the CPU)."""
        if self.type == "cuda":
            return self.xp.cuda.Device(self.index)
        return _NULL_CONTEXT


class _NullContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NULL_CONTEXT = _NullContext()
CPU = Device("cpu", None, np)


@functools.lru_cache(maxsize=64)
def _cuda_device(index: int) -> Device:
    cp = cupy_module()
    count = cp.cuda.runtime.getDeviceCount()
    if index >= count:
        raise DeviceError(
            f"cuda:{index} was asked for but this machine has {count} CUDA device(s) "
            f"(cuda:0..cuda:{count - 1}); pick one of those"
        )
    return Device("cuda", index, cp)


_default: list[Device] = []  # set_default_device's choice; empty: the CPU


def set_default_device(device: Any) -> None:
    """Where factory functions put tensors when no ``device=`` is given (PyTorch's
    ``torch.set_default_device``; None restores the CPU)."""
    _default[:] = [] if device is None else [get_device(device)]


def get_default_device() -> Device:
    return _default[0] if _default else CPU


def device(type_or_spec: Any, index: int | None = None) -> Device:
    """PyTorch's ``torch.device('cuda', 0)`` / ``device('cuda:0')`` / ``device('cpu')``.

    A CUDA device can be named on a machine without CuPy or a GPU (scripts build
    ``device('cuda' if available else 'cpu')`` and configs name devices): it fails only when
    a tensor is put on it, with the reason CUDA is unusable here.
    """
    if type_or_spec is None or isinstance(type_or_spec, Device | int):
        return get_device(type_or_spec)
    text = str(type_or_spec).strip().lower()
    if index is not None:
        if ":" in text:
            raise ValueError(f"device(): type {type_or_spec!r} already names an index")
        text = f"{text}:{int(index)}"
    try:
        return get_device(text)
    except DeviceError:
        kind, _, idx = text.partition(":")
        return Device(kind, int(idx) if idx else None, None)  # resolved (and refused) on use


def get_device(spec: Any = None) -> Device:
    """Turn ``None`` (the default device), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a Device into
    an interned Device."""
    if spec is None:
        return _default[0] if _default else CPU
    if spec is CPU:
        return CPU
    if isinstance(spec, Device):
        if spec.xp is None:  # named while CUDA was unusable: resolving says why
            return get_device(spec._str)
        return spec
    if isinstance(spec, int) and not isinstance(spec, bool):  # PyTorch: an int is a GPU index
        if spec < 0:
            raise ValueError(f"bad device {spec!r}: a CUDA device index must be >= 0")
        return _cuda_device(spec)
    if not isinstance(spec, str):
        raise ValueError(f"device must be a string like 'cpu' or 'cuda:0', got {spec!r}")
    text = spec.strip().lower()
    if text == "cpu":
        return CPU
    if text == "cuda":
        return _cuda_device(current_cuda_index())
    if text.startswith("cuda:"):
        try:
            index = int(text[5:])
        except ValueError:
            raise ValueError(f"bad device {spec!r}: expected 'cuda:N' with N an integer") from None
        if index < 0:
            raise ValueError(f"bad device {spec!r}: the index must be >= 0")
        return _cuda_device(index)
    raise ValueError(f"unknown device {spec!r}: use 'cpu', 'cuda' or 'cuda:N'")


def current_cuda_index() -> int:
    cp = cupy_module()
    return int(cp.cuda.runtime.getDevice())


def device_of_array(arr: Any) -> Device:
    """The Device that holds a raw array (NumPy -> cpu, CuPy -> its GPU)."""
    if isinstance(arr, np.ndarray):
        return CPU
    cp = cupy_if_loaded()
    if cp is not None and isinstance(arr, cp.ndarray):
        return _cuda_device(arr.device.id)
    return CPU


def to_device_array(arr: Any, device: Device) -> Any:
    """Copy a raw array onto ``device`` (returning it unchanged when it already lives there)."""
    src = device_of_array(arr)
    if src is device:
        return arr
    if device.type == "cpu":
        return arr.get()
    with device.context():
        return device.xp.asarray(arr)


def xp_of(arr: Any) -> Any:
    """The array module of a raw array: NumPy for host arrays and scalars, CuPy for GPU ones."""
    if isinstance(arr, np.ndarray | np.generic):
        return np
    cp = _cupy
    if cp is not None and isinstance(arr, cp.ndarray):
        return cp
    return np
