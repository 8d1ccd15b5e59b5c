"""What the Trainer prepares before its loop: the model placed and wrapped for its devices, the
loaders made distributed, and the random state captured and restored for exact resumption."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .. import random as engine_random
from .._backend import get_device
from ..tensor import Tensor
from .errors import CheckpointError, TrainingError


def place_model(model: Any, devices: Sequence[Any] | None, distributed: bool,
                sync_batchnorm: bool) -> tuple[Any, Any]:
    """Return ``(net, device)``: the module the loop calls (the model itself, a DataParallel or a
    DistributedDataParallel) and the device that holds the master parameters."""
    devs = [get_device(d) for d in devices] if devices else []
    if distributed:
        from .. import distributed as dist  # noqa: PLC0415

        if not dist.is_initialized():
            dist.init_process_group("mpi")
        group = dist.default_group()
        if group.device.is_cuda:
            dev = group.device
        elif devs:
            dev = devs[group.local_rank % len(devs)]
        else:
            dev = _model_device(model)
        model.to(dev)
        if sync_batchnorm:
            from ..parallel.sync_batchnorm import SyncBatchNorm  # noqa: PLC0415

            model = SyncBatchNorm.convert_sync_batchnorm(model)
        return dist.DistributedDataParallel(model), dev
    if len(devs) > 1:
        from ..parallel import DataParallel  # noqa: PLC0415

        model.to(devs[0])
        return DataParallel(model, devices=devs, sync_batchnorm=sync_batchnorm), devs[0]
    if devs:
        model.to(devs[0])
        return model, devs[0]
    return model, _model_device(model)


def _model_device(model: Any) -> Any:
    for p in model.parameters():
        return p.device
    return get_device("cpu")


class ShardedBatches:
    """Batch ``rank`` of every group of ``world`` consecutive batches of an iterable without a
    dataset (e.g. a list of batches): the distributed form of loaders the Trainer cannot
    rebuild. An incomplete last group is dropped, so every rank runs the same number of steps
    (a rank with one batch more would wait for the others' gradients for ever)."""

    def __init__(self, batches: Iterable[Any], rank: int, world: int,
                 drop_tail: bool = True) -> None:
        self.batches, self.rank, self.world = batches, rank, world
        self.drop_tail = drop_tail  # False for validation: no collective per batch there

    def __iter__(self) -> Iterator[Any]:
        group: list[Any] = []
        for b in self.batches:
            group.append(b)
            if len(group) == self.world:
                yield group[self.rank]
                group = []
        if not self.drop_tail and self.rank < len(group):
            yield group[self.rank]

    def __len__(self) -> int:
        n = len(self.batches)  # type: ignore[arg-type]
        return n // self.world if self.drop_tail else len(range(self.rank, n, self.world))


class _Shard:
    """Indices rank, rank+world, ... without padding: validation sums stay exact."""

    def __init__(self, n: int, rank: int, world: int) -> None:
        self.n, self.rank, self.world = n, rank, world

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world))


def distributed_loader(loader: Any, train: bool, seed: int) -> Any:
    """This rank's share of ``loader``: a DistributedSampler for training (shuffled like the
    original when it shuffled), an unpadded shard for validation."""
    from .. import distributed as dist  # noqa: PLC0415
    from ..data import DataLoader, DistributedSampler, RandomSampler  # noqa: PLC0415

    rank, world = dist.get_rank(), dist.get_world_size()
    if world == 1:
        return loader
    if not isinstance(loader, DataLoader):
        return ShardedBatches(loader, rank, world, drop_tail=train)
    if isinstance(loader.sampler, DistributedSampler) or loader.batch_size is None:
        return loader
    if train:
        sampler: Any = DistributedSampler(loader.dataset, num_replicas=world, rank=rank,
                                          shuffle=isinstance(loader.sampler, RandomSampler),
                                          seed=seed, drop_last=loader.drop_last)
    else:
        sampler = _Shard(len(loader.dataset), rank, world)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                      drop_last=loader.drop_last, timeout=loader.timeout,
                      worker_init_fn=loader.worker_init_fn,
                      multiprocessing_context=loader.multiprocessing_context,
                      generator=loader.generator, prefetch_factor=loader.prefetch_factor,
                      persistent_workers=loader.persistent_workers)


def loader_generators(loader: Any) -> list[np.random.Generator]:
    """NumPy generators a loader draws from besides the engine's global one (user-given)."""
    found: list[np.random.Generator] = []
    for owner in (loader, getattr(loader, "sampler", None),
                  getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        g = getattr(owner, "generator", None)
        if isinstance(g, np.random.Generator) and all(g is not f for f in found):
            found.append(g)
    return found


def capture_random_state(loader: Any) -> dict[str, Any]:
    """Everything random the loop depends on, as plain data (a checkpoint entry)."""
    return {"engine": engine_random.get_rng_state(),
            "loader": [g.bit_generator.state for g in loader_generators(loader)]}


def restore_random_state(state: dict[str, Any], loader: Any) -> None:
    engine_random.set_rng_state(state["engine"])
    gens = loader_generators(loader)
    saved = state.get("loader", [])
    if len(saved) != len(gens):
        raise TrainingError(
            f"the checkpoint saved {len(saved)} loader generator state(s) but this loader has "
            f"{len(gens)}; resume with a loader built the same way (same generator= argument)"
        )
    for i, (g, s) in enumerate(zip(gens, saved)):
        try:
            g.bit_generator.state = s
        except ValueError:
            raise CheckpointError(
                f"the checkpoint saved loader generator {i} as a {s.get('bit_generator')} but "
                f"this loader's is a {type(g.bit_generator).__name__}; resume with a loader "
                f"built the same way (same generator= argument)") from None


def skip_batches(it: Iterator[Any], n: int) -> None:
    """Advance ``it`` past the ``n`` batches a resumed run had already trained on."""
    for i in range(n):
        try:
            next(it)
        except StopIteration:
            raise CheckpointError(
                f"the checkpoint stopped after batch {n} of its epoch, but this loader's epoch "
                f"ends after {i} batches; resume with the data and batch size it was trained "
                f"with, or start a new run") from None


def move_to(obj: Any, device: Any) -> Any:
    """Tensors inside ``obj`` (nested tuples, lists, dicts) moved to ``device``."""
    if isinstance(obj, Tensor):
        return obj if obj.device is device else obj.to(device)
    if isinstance(obj, tuple | list):
        items = [move_to(x, device) for x in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
    if isinstance(obj, dict):
        return {k: move_to(v, device) for k, v in obj.items()}
    return obj


def batch_size_of(obj: Any) -> int:
    if isinstance(obj, Tensor):
        return int(obj.shape[0]) if obj.ndim else 1
    if isinstance(obj, tuple | list) and obj:
        return batch_size_of(obj[0])
    if isinstance(obj, dict) and obj:
        return batch_size_of(next(iter(obj.values())))
    raise TrainingError(f"cannot tell the batch size of a {type(obj).__name__}; the inputs must "
                        f"be tensors (or pass batch_fn= returning tensors)")


def len_or_none(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def is_data_parallel(net: Any) -> bool:
    return type(net).__name__ == "DataParallel"


def grads_finite(params: list[Any]) -> bool:
    total = 0.0
    for p in params:
        if p.grad is not None:
            total += float(p.grad._data.sum(dtype=np.float64))
    return math.isfinite(total)
