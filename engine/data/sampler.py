"""Samplers: which dataset indices an epoch visits, in which order, as PyTorch's
``torch.utils.data`` samplers do.

Randomness comes from a NumPy ``Generator``: the one passed as ``generator=``, or, when none is
given, a fresh one seeded from the engine's global generator at the start of every epoch, so
``engine.manual_seed`` makes the order reproducible (as ``torch.manual_seed`` does for PyTorch).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np

from .. import random as _engine_random

__all__ = [
    "BatchSampler", "DistributedSampler", "RandomSampler", "Sampler", "SequentialSampler",
    "SubsetRandomSampler", "WeightedRandomSampler", "draw_seed", "resolve_generator",
]

_SEED_HIGH = 2**62  # seeds stay well inside int64 so `seed + worker_id` never overflows


def resolve_generator(generator: Any) -> np.random.Generator:
    """The NumPy Generator to draw from: ``generator`` itself, or the engine's global one."""
    if generator is None:
        return _engine_random.generator()
    if isinstance(generator, np.random.Generator):
        return generator
    inner = getattr(generator, "numpy_generator", None)  # an engine Generator wrapper, if any
    if isinstance(inner, np.random.Generator):
        return inner
    raise TypeError(
        f"generator must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)) or None, "
        f"got {type(generator).__name__}"
    )


def draw_seed(generator: Any = None) -> int:
    """One seed drawn from ``generator`` (or the engine's global generator)."""
    return int(resolve_generator(generator).integers(0, _SEED_HIGH))


def _epoch_rng(generator: Any) -> np.random.Generator:
    """The generator for one epoch: the user's, or a fresh one seeded from the global one (so
    iterating a sampler twice gives two different, reproducible orders)."""
    if generator is not None:
        return resolve_generator(generator)
    return np.random.default_rng(draw_seed())


class Sampler:
    """Base of every sampler: ``__iter__`` yields indices (or lists of indices for batch
    samplers); ``__len__`` says how many, where that is known."""

    def __init__(self, data_source: Sized | None = None) -> None:
        # Accepted and ignored, as in PyTorch (kept for subclasses that call super().__init__).
        pass

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError

    def _index_array(self) -> np.ndarray | None:
        """This epoch's indices as one int64 array, for samplers that can give them at once
        (the DataLoader's fast path slices batches out of it); None otherwise."""
        return None


class SequentialSampler(Sampler):
    """Indices 0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def _index_array(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices (or ``num_samples`` draws with replacement).

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw with replacement; ``num_samples`` then says how many.
        num_samples: how many indices an epoch yields (default: the dataset's length). Without
            replacement a larger value chains several permutations, as PyTorch does.
        generator: a NumPy Generator, or None for the engine's seeded global one.
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples}")
        if generator is not None:
            resolve_generator(generator)  # fail now, not at the first epoch

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _index_array(self) -> np.ndarray:
        n = len(self.data_source)
        rng = _epoch_rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, self.num_samples, dtype=np.int64)
        full, rest = divmod(self.num_samples, n)
        parts = [rng.permutation(n) for _ in range(full)]
        if rest:
            parts.append(rng.permutation(n)[:rest])
        return np.concatenate(parts).astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order (a fresh order every epoch)."""

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = generator

    def _index_array(self) -> np.ndarray:
        order = _epoch_rng(self.generator).permutation(len(self.indices))
        return np.asarray(self.indices, dtype=np.int64)[order]

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """Indices drawn with probability proportional to ``weights`` (class rebalancing).

    Args:
        weights: one non-negative weight per index (they need not sum to one).
        num_samples: how many indices an epoch yields.
        replacement: with replacement (the default) an index can come back; without, at most
            ``len(weights)`` distinct indices are drawn.
        generator: a NumPy Generator, or None for the engine's seeded global one.
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Any = None) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got "
                f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights,
                       dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > int(np.count_nonzero(w)):
            raise ValueError(
                f"cannot draw {num_samples} samples without replacement: only "
                f"{int(np.count_nonzero(w))} weights are non-zero. Use replacement=True or a "
                f"smaller num_samples")
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def _index_array(self) -> np.ndarray:
        p = self.weights / self.weights.sum()
        rng = _epoch_rng(self.generator)
        return rng.choice(len(p), size=self.num_samples, replace=self.replacement,
                          p=p).astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of ``batch_size``.

    Example:
        >>> list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False))
        [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        if (not isinstance(batch_size, int) or isinstance(batch_size, bool)
                or batch_size <= 0):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(
                f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def _iter_arrays(self) -> Iterator[np.ndarray] | None:
        """Batches as int64 array slices of the sampler's epoch array (no per-index Python
        work), in exactly the order ``__iter__`` gives; None when the sampler can't do that."""
        get = getattr(self.sampler, "_index_array", None)
        arr = get() if get is not None else None
        if arr is None:
            return None
        return self._slices(arr)

    def _slices(self, arr: np.ndarray) -> Iterator[np.ndarray]:
        bs = self.batch_size
        stop = len(arr) - len(arr) % bs if self.drop_last else len(arr)
        for start in range(0, stop, bs):
            yield arr[start:start + bs]

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DistributedSampler(Sampler):
    """The share of a dataset that one rank of ``num_replicas`` sees, as PyTorch's
    ``DistributedSampler``: every rank gets the same number of indices (padded by repeating
    indices, or cut with ``drop_last``), shuffled identically on every rank from ``seed + epoch``
    (call ``set_epoch`` at the start of each epoch for a new order).
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            world, my_rank = _distributed_defaults()
            num_replicas = world if num_replicas is None else num_replicas
            rank = my_rank if rank is None else rank
        if num_replicas <= 0:
            raise ValueError(f"num_replicas must be positive, got {num_replicas}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def _index_array(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = np.arange(n)
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad > 0:
                indices = np.concatenate([indices, np.resize(indices, pad)])
        else:
            indices = indices[:self.total_size]
        return indices[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use this epoch's order (the same on every rank)."""
        self.epoch = epoch


def _distributed_defaults() -> tuple[int, int]:
    """World size and rank from ``engine.distributed`` when a process group is running."""
    try:
        from .. import distributed as dist  # type: ignore[attr-defined]  # noqa: PLC0415

        if dist.is_initialized():
            return dist.get_world_size(), dist.get_rank()
    except (ImportError, AttributeError):
        pass
    raise RuntimeError(
        "DistributedSampler: no process group is running, so num_replicas and rank are unknown. "
        "Fix: call engine.distributed.init_process_group() first, or pass num_replicas= and "
        "rank= explicitly"
    )
