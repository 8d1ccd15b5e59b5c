"""Data parallelism across processes and machines, with ``torch.distributed``'s names.

Backends: ``mpi`` reduces host arrays over MPI (mpi4py with an MPI from PyPI, e.g. the ``mpich``
wheel: ``pip install 'layerforge[distributed]'``); ``nccl`` gives each rank one GPU, bootstraps
NCCL by broadcasting its unique id over MPI and reduces GPU arrays with NCCL. Launch with
``mpiexec -n 4 python -m engine.distributed.launch train.py`` (or ``layerforge train ...
--distributed`` under ``mpiexec``).

Example::

    import engine.distributed as dist
    dist.init_process_group("mpi")
    model = dist.DistributedDataParallel(model)
    sampler = engine.data.DistributedSampler(dataset)   # rank and world size from the group
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from datetime import timedelta
from typing import Any

import numpy as np

from ..tensor import Tensor
from .errors import CollectiveTimeoutError, DistributedError, ModelMismatchError, RankFailedError
from .process_group import DEFAULT_TIMEOUT_S, CollectiveStats, ProcessGroup, ReduceOp

__all__ = [
    "CollectiveTimeoutError", "DistributedDataParallel", "DistributedError", "ModelMismatchError",
    "RankFailedError", "ReduceOp", "all_gather", "all_gather_object", "all_reduce", "barrier",
    "broadcast", "broadcast_object_list", "collective_stats", "destroy_process_group",
    "fail_all_ranks",
    "get_backend", "get_local_rank", "get_rank", "get_world_size", "init_process_group",
    "is_available", "is_initialized", "is_mpi_available", "is_nccl_available",
    "reset_collective_stats",
]

_group: ProcessGroup | None = None
_BACKENDS = ("mpi", "nccl")


class Work:
    """What ``async_op=True`` returns; collectives here complete before returning."""

    def wait(self, timeout: Any = None) -> bool:
        return True

    def is_completed(self) -> bool:
        return True


def is_available() -> bool:
    """True when mpi4py is installed (without initialising MPI)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_mpi_available() -> bool:
    return is_available()


def is_nccl_available() -> bool:
    from ..parallel.nccl import nccl_available  # noqa: PLC0415

    return nccl_available()


def mpiexec_path() -> str | None:
    """The ``mpiexec`` that ``launch -n N`` and the tests use, or None when there is none."""
    return shutil.which("mpiexec")


def init_process_group(backend: str = "mpi", init_method: str | None = None,
                       timeout: timedelta | float | None = None, world_size: int = -1,
                       rank: int = -1, **_ignored: Any) -> None:
    """Join every process started by ``mpiexec`` into the default group.

    Rank and world size come from MPI; ``world_size``/``rank``, when given, are checked against
    it. ``timeout`` bounds every collective (a stuck rank raises ``CollectiveTimeoutError``).
    Calling it again with the same backend (e.g. after the launcher did) is a no-op.
    """
    global _group
    if backend not in _BACKENDS:
        raise DistributedError(f"unknown backend {backend!r}; use one of {_BACKENDS}")
    if _group is not None:
        if _group.backend != backend:
            raise DistributedError(
                f"the default process group is already initialised with backend "
                f"{_group.backend!r}; cannot re-initialise it with {backend!r}. Call "
                f"destroy_process_group() first"
            )
        if timeout is not None:  # the script's own setting wins over the launcher's default
            _group.timeout_s = (timeout.total_seconds() if isinstance(timeout, timedelta)
                                else float(timeout))
        return
    if init_method not in (None, "env://", "mpi://"):
        raise DistributedError(
            f"init_method {init_method!r} is not supported: ranks are found through MPI; start "
            f"the processes with mpiexec and leave init_method unset"
        )
    if isinstance(timeout, timedelta):
        timeout_s = timeout.total_seconds()
    else:
        timeout_s = DEFAULT_TIMEOUT_S if timeout is None else float(timeout)
    group = ProcessGroup(backend, timeout_s)
    if world_size not in (-1, None) and int(world_size) != group.size:
        raise DistributedError(
            f"world_size={world_size} was asked for but mpiexec started {group.size} process(es);"
            f" pass -n {world_size} to mpiexec or drop world_size"
        )
    if rank not in (-1, None) and int(rank) != group.rank:
        raise DistributedError(f"rank={rank} was asked for but MPI gave this process rank "
                               f"{group.rank}; leave rank unset under MPI")
    _group = group
    _install_excepthook()
    if group.size > 1:
        group.start_watcher()


def destroy_process_group(group: Any = None) -> None:
    global _group
    if _group is not None:
        _group.free()
        _group = None


def is_initialized() -> bool:
    return _group is not None


def default_group() -> ProcessGroup:
    if _group is None:
        raise DistributedError(
            "the default process group has not been initialised; call "
            "engine.distributed.init_process_group('mpi') first (under mpiexec)"
        )
    return _group


def get_backend(group: Any = None) -> str:
    return default_group().backend


def get_rank(group: Any = None) -> int:
    return default_group().rank


def get_world_size(group: Any = None) -> int:
    return default_group().size


def get_local_rank() -> int:
    """Rank among the processes of this machine (which GPU a rank takes under ``nccl``)."""
    return default_group().local_rank


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Reduce ``tensor`` in place across every rank."""
    g = default_group()
    g.all_reduce_array(tensor._data, _as_op(op))
    tensor._vc.value += 1
    return Work() if async_op else None


def broadcast(tensor: Tensor, src: int, group: Any = None, async_op: bool = False) -> Work | None:
    """Copy ``tensor`` from rank ``src`` into the same tensor on every rank."""
    g = default_group()
    g.broadcast_array(tensor._data, src)
    tensor._vc.value += 1
    return Work() if async_op else None


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None,
               async_op: bool = False) -> Work | None:
    g = default_group()
    if len(tensor_list) != g.size:
        raise DistributedError(
            f"all_gather: tensor_list has {len(tensor_list)} tensors but the group has "
            f"{g.size} ranks; pass one tensor per rank"
        )
    stacked = g.all_gather_array(tensor._data)
    xp = tensor.device.xp
    for t, part in zip(tensor_list, stacked):
        t._data[...] = part if xp is np else xp.asarray(part)
        t._vc.value += 1
    return Work() if async_op else None


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    default_group().barrier()
    return Work() if async_op else None


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    g = default_group()
    if len(object_list) != g.size:
        raise DistributedError(
            f"all_gather_object: object_list has {len(object_list)} entries but the group has "
            f"{g.size} ranks; pass [None] * get_world_size()"
        )
    object_list[:] = g.all_gather_object(obj)


def broadcast_object_list(object_list: list[Any], src: int = 0, group: Any = None,
                          device: Any = None) -> None:
    g = default_group()
    object_list[:] = g.broadcast_object(list(object_list), src)


def fail_all_ranks(exc: BaseException) -> None:
    """End this rank after ``exc`` so that every rank ends, each printing which rank failed
    and why (see ``process_group.fail_all_ranks``). Does not return while a group of two or
    more ranks is running; otherwise returns and the caller handles ``exc`` as usual. For code
    that catches exceptions itself (a CLI returning exit codes) instead of letting them reach
    the launcher or the excepthook."""
    g = _group
    if g is not None and g.size > 1:
        from .process_group import fail_all_ranks as _fail  # noqa: PLC0415

        _fail(g, exc)


def collective_stats() -> dict[str, Any]:
    """Calls, bytes and seconds of collectives since the last reset (benchmarks, tests)."""
    return default_group().stats.as_dict()


def reset_collective_stats() -> None:
    default_group().stats.reset()


def _as_op(op: Any) -> ReduceOp:
    if isinstance(op, ReduceOp):
        return op
    try:
        return ReduceOp[str(op).rsplit(".", 1)[-1].upper()]
    except KeyError:
        raise DistributedError(f"unknown reduce op {op!r}; use a ReduceOp member") from None


_previous_excepthook = None


def _install_excepthook() -> None:
    """Make an uncaught exception on any rank end every rank (see ``fail_all_ranks``)."""
    global _previous_excepthook
    if _previous_excepthook is not None:
        return
    _previous_excepthook = sys.excepthook

    def hook(exc_type: Any, exc: BaseException, tb: Any) -> None:
        g = _group
        if g is not None and g.size > 1 and not isinstance(exc, KeyboardInterrupt):
            from .process_group import fail_all_ranks  # noqa: PLC0415

            fail_all_ranks(g, exc, tb)
        _previous_excepthook(exc_type, exc, tb)

    sys.excepthook = hook


def __getattr__(name: str) -> Any:
    # DistributedDataParallel imports engine.nn, which may import this package: load it lazily.
    if name == "DistributedDataParallel":
        from .ddp import DistributedDataParallel  # noqa: PLC0415

        return DistributedDataParallel
    raise AttributeError(f"module 'engine.distributed' has no attribute {name!r}")


_ = CollectiveStats  # re-exported for type hints
