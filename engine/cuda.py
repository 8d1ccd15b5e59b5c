"""CUDA device queries, mirroring ``torch.cuda``; every function is safe without CuPy."""

from __future__ import annotations

from typing import Any

from ._backend import cupy_module, get_device
from .errors import DeviceError


def is_available() -> bool:
    """True when CuPy imports and at least one GPU answers."""
    try:
        return cupy_module().cuda.runtime.getDeviceCount() > 0
    except DeviceError:
        return False


def device_count() -> int:
    try:
        return int(cupy_module().cuda.runtime.getDeviceCount())
    except DeviceError:
        return 0


def unavailable_reason() -> str | None:
    """Why CUDA can't be used here (for the app's device list), or None when it can."""
    try:
        cupy_module()
        return None
    except DeviceError as exc:
        return str(exc)


def get_device_name(device: Any = None) -> str:
    dev = get_device(device if device is not None else "cuda")
    props = dev.xp.cuda.runtime.getDeviceProperties(dev.index)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def get_device_properties(device: Any = None) -> dict[str, Any]:
    dev = get_device(device if device is not None else "cuda")
    props = dev.xp.cuda.runtime.getDeviceProperties(dev.index)
    name = props["name"]
    return {"name": name.decode() if isinstance(name, bytes) else str(name),
            "total_memory": int(props["totalGlobalMem"])}


def synchronize(device: Any = None) -> None:
    dev = get_device(device if device is not None else "cuda")
    with dev.context():
        dev.xp.cuda.Device(dev.index).synchronize()


def memory_allocated(device: Any = None) -> int:
    """Bytes held by live arrays on ``device`` (CuPy's memory pool, used bytes)."""
    dev = get_device(device if device is not None else "cuda")
    with dev.context():
        return int(dev.xp.get_default_memory_pool().used_bytes())


def memory_reserved(device: Any = None) -> int:
    dev = get_device(device if device is not None else "cuda")
    with dev.context():
        return int(dev.xp.get_default_memory_pool().total_bytes())


def empty_cache() -> None:
    try:
        cupy_module().get_default_memory_pool().free_all_blocks()
    except DeviceError:
        return


def manual_seed_all(seed: int) -> None:
    from . import random  # noqa: PLC0415

    random.manual_seed(seed)
