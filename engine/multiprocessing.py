"""``engine.multiprocessing``: Python's ``multiprocessing`` under PyTorch's module name, with
``spawn`` (how the DDP tutorials start one process per rank). Tensors cross process boundaries by
pickling (engine tensors pickle their host arrays), not through shared memory as PyTorch's do."""

from __future__ import annotations

import multiprocessing as _mp
from collections.abc import Callable
from multiprocessing import *  # noqa: F403 - the whole standard module, as torch's re-exports it
from typing import Any


class ProcessRaisedException(Exception):
    """A spawned process failed; the message names its rank and exit code."""


def _run(fn: Callable[..., Any], i: int, args: tuple[Any, ...]) -> None:
    fn(i, *args)


def spawn(fn: Callable[..., Any], args: tuple[Any, ...] = (), nprocs: int = 1,
          join: bool = True, daemon: bool = False, start_method: str = "spawn") -> Any:
    """Start ``nprocs`` processes running ``fn(rank, *args)``; with ``join`` wait for all and
    raise if any failed (PyTorch's ``torch.multiprocessing.spawn``)."""
    ctx = _mp.get_context(start_method)
    procs = []
    for i in range(nprocs):
        p = ctx.Process(target=_run, args=(fn, i, tuple(args)), daemon=daemon)
        p.start()
        procs.append(p)
    if not join:
        return procs
    for p in procs:
        p.join()
    failed = [(i, p.exitcode) for i, p in enumerate(procs) if p.exitcode != 0]
    if failed:
        raise ProcessRaisedException(
            "; ".join(f"process {i} terminated with exit code {code}" for i, code in failed))
    return None


def get_all_sharing_strategies() -> set[str]:
    return {"file_system"}


def set_sharing_strategy(strategy: str) -> None:
    """Accepted for PyTorch compatibility: engine tensors are always pickled."""
