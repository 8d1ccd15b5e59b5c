"""How much memory a run needs (the graph's estimate) against what its device has free: the
Training panel warns with the two figures, and a run refuses to start when even all of the
device's memory could not hold it (``memory_problem``), before anything is allocated.
"""

from __future__ import annotations

import os
from typing import Any

from engine.graph.stats import human_bytes, summarize

from .project import Project
from .settings import AUTO_DEVICE


def estimator_optimizer(training: dict[str, Any]) -> str:
    """The optimizer as the memory estimate names it (its state slots differ: SGD with
    momentum keeps one buffer a parameter, Adam two)."""
    opt = training.get("optimizer") if isinstance(training.get("optimizer"), dict) else {}
    name = str(opt.get("name", "adam")).lower()
    return "sgd_momentum" if name == "sgd" and opt.get("momentum") else name


def training_bytes(project: Project, batch_size: int | None = None) -> int:
    """The estimate: weights, gradients and optimizer state, plus one batch's activations."""
    batch = batch_size or int(project.training.get("batch_size") or 1)
    return summarize(project.graph, batch, estimator_optimizer(project.training)).training_bytes


def device_memory(device: str) -> tuple[int | None, int | None]:
    """(free, total) bytes of ``device`` now (None where the system does not say)."""
    if str(device).startswith("cuda"):
        try:
            import cupy  # noqa: PLC0415

            index = int(str(device).partition(":")[2] or 0)
            with cupy.cuda.Device(index):
                free, total = cupy.cuda.runtime.memGetInfo()
            return int(free), int(total)
        except Exception:  # noqa: BLE001 - no CuPy, no such GPU: the device check says which
            return None, None
    return _available_ram(), _total_ram()


def _available_ram() -> int | None:
    try:  # Linux: what can be had without swapping (page cache counts as free)
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass  # not Linux: ask sysconf below
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _total_ram() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _per_device(need: int, devices: list[str]) -> int:
    """What one device holds when ``devices`` share the batch: its part of the activations,
    plus the whole model, gradients and optimizer state (counted as half the estimate)."""
    return need if len(devices) == 1 else need // len(devices) + need // 2


def memory_note(project: Project, devices: list[str] | None = None) -> tuple[str, bool]:
    """A line for the Training panel and whether it is a warning: the estimate for the batch
    size, and the free memory of the (first) device when the estimate does not fit in it."""
    devices = ["cpu" if d == AUTO_DEVICE else d
               for d in devices or list(project.training.get("devices") or ["cpu"])]
    batch = int(project.training.get("batch_size") or 1)
    need = training_bytes(project)
    per_device = _per_device(need, devices)
    free, _total = device_memory(devices[0])
    text = f"Training memory ≈ {human_bytes(need)} for batch {batch}"
    if free is not None and per_device > free:
        return (f"{text}, but {devices[0]} has {human_bytes(free)} free: lower the batch "
                "size or make the model smaller", True)
    return text, False


def memory_problem(project: Project, batch_size: int, devices: list[str]) -> str | None:
    """Why a run cannot fit (None when it may): the estimate above all the memory the device
    has, which no swapping or waiting can change."""
    need = training_bytes(project, batch_size)
    _free, total = device_memory(devices[0])
    if total is None or _per_device(need, devices) <= total:
        return None
    return (f"training would need about {human_bytes(need)} (the estimate for batch "
            f"{batch_size}) but {devices[0]} has {human_bytes(total)} in all; lower the batch "
            "size or make the model smaller")
