"""``engine.accelerator``: PyTorch's device-agnostic queries (``torch.accelerator``). The
engine's one accelerator type is CUDA (through CuPy); every function is safe without it."""

from __future__ import annotations

from typing import Any

from . import cuda
from ._backend import Device, device


def is_available() -> bool:
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> Device | None:
    """``device('cuda')`` when a GPU is usable, else None (what scripts pass to ``.to()``)."""
    return device("cuda") if cuda.is_available() else None


def device_count() -> int:
    return cuda.device_count()


def current_device_index() -> int:
    if not cuda.is_available():
        return -1
    from ._backend import current_cuda_index  # noqa: PLC0415

    return current_cuda_index()


def set_device_index(index: Any) -> None:
    dev = device("cuda", int(index))
    dev.xp.cuda.Device(dev.index).use()


def synchronize(device_: Any = None) -> None:
    if cuda.is_available():
        cuda.synchronize(device_)
