"""``DataLoader``: batches from a dataset, in the main process or in worker processes, with
PyTorch's arguments and semantics.

Example:
    >>> loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=2)
    >>> for images, labels in loader:
    ...     loss = criterion(model(images), labels)
"""

from __future__ import annotations

import itertools
import math
import multiprocessing as mp
import numbers
import sys
from collections.abc import Callable, Iterator
from typing import Any

from ._fetch import create_fetcher
from .dataset import IterableDataset
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    draw_seed,
    resolve_generator,
)

__all__ = ["DataLoader"]


def _default_context() -> Any:
    """``fork`` on Linux: a worker starts in milliseconds and shares the parent's in-memory
    data copy-on-write. Elsewhere the platform's default (spawn on Windows and macOS), which needs
    picklable datasets, collate and init functions."""
    if sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods():
        return mp.get_context("fork")
    return mp.get_context()


def _index_iter(is_iterable: bool, auto_collation: bool, batch_size: int | None,
                index_sampler: Any, fast: bool) -> Iterator[Any]:
    """What the fetchers get, one item per batch: a list (or, on the fast path, an int64 array)
    of indices; for iterable datasets the batch size (None without automatic batching)."""
    if is_iterable:
        return itertools.repeat(batch_size if auto_collation else None)
    if fast and type(index_sampler).__iter__ is BatchSampler.__iter__:
        arrays = index_sampler._iter_arrays()
        if arrays is not None:
            return arrays
    return iter(index_sampler)


class DataLoader:
    """Iterate a dataset in batches.

    Args:
        dataset: a map-style ``Dataset`` (``__getitem__``/``__len__``) or an ``IterableDataset``.
        batch_size: samples per batch; None turns automatic batching off (each item is one
            sample, converted by ``default_convert``).
        shuffle: a new random order every epoch (reproducible after ``engine.manual_seed``).
        sampler: the order of indices (exclusive with ``shuffle``).
        batch_sampler: yields whole lists of indices (exclusive with batch_size, shuffle,
            sampler and drop_last).
        num_workers: worker processes loading batches in parallel (0: the main process).
        collate_fn: turns a list of samples into a batch (default: ``default_collate``).
        drop_last: drop the last, smaller batch.
        timeout: seconds to wait for a worker's batch before raising (0: forever).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after seeding.
        generator: a ``numpy.random.Generator`` used for the shuffling order and the workers'
            base seed instead of the engine's global generator.
        prefetch_factor: batches loaded in advance per worker.
        persistent_workers: keep the workers alive between epochs.
        multiprocessing_context: a start method name ("fork", "spawn", "forkserver") or a
            context; default fork on Linux, the platform's default elsewhere.
        pin_memory: accepted for PyTorch compatibility; there is nothing to pin on the CPU.

    In-memory datasets (``TensorDataset``, the built-in datasets, any dataset with a
    ``get_batch`` method) take the fast path with the default collate: one fancy index per batch,
    and batch-capable transforms run once on the whole batch.
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Any = None, batch_sampler: Sampler | Any = None,
                 num_workers: int = 0, collate_fn: Callable[[list[Any]], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None, generator: Any = None, *,
                 prefetch_factor: int | None = 2, persistent_workers: bool = False) -> None:
        # PyTorch's checks and wording, plus what its comparisons let through: a num_workers
        # of another type (PyTorch: a bare "'<' not supported") and a NaN timeout (accepted
        # there, and then waited on for ever).
        if not isinstance(num_workers, numbers.Integral):
            raise TypeError(f"num_workers option should be an int, got "
                            f"{type(num_workers).__name__} {num_workers!r}")
        num_workers = int(num_workers)
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if not isinstance(timeout, numbers.Real):
            raise TypeError(f"timeout option should be a number of seconds, got "
                            f"{type(timeout).__name__} {timeout!r}")
        if not timeout >= 0 or math.isinf(timeout):  # (not >= also catches NaN)
            raise ValueError(f"timeout option should be non-negative, got {timeout}; it is the "
                             f"seconds to wait for a worker's batch (0: no limit)")
        if prefetch_factor is None:
            prefetch_factor = 2
        if num_workers == 0 and prefetch_factor != 2:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. "
                             "Let num_workers > 0 to enable multiprocessing, otherwise leave "
                             "prefetch_factor at its default.")
        if not isinstance(prefetch_factor, int) or prefetch_factor <= 0:
            raise ValueError(f"prefetch_factor should be a positive integer, got "
                             f"{prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if generator is not None:
            resolve_generator(generator)

        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
            if sampler is not None and shuffle:
                raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")

        if sampler is None and not self._is_iterable:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None and not self._is_iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        if isinstance(multiprocessing_context, str):
            if multiprocessing_context not in mp.get_all_start_methods():
                raise ValueError(
                    f"multiprocessing_context option should specify a valid start method in "
                    f"{mp.get_all_start_methods()!r}, but got multiprocessing_context="
                    f"{multiprocessing_context!r}")
            multiprocessing_context = mp.get_context(multiprocessing_context)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self._iterator: Any = None

    # ----------------------------------------------------------------- internals
    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (self._is_iterable and
                                                  self.batch_size is not None)

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    @property
    def _fast(self) -> bool:
        """Whether batches may come from ``dataset.get_batch`` (one fancy index)."""
        return (not self._is_iterable and self.collate_fn is None and self._auto_collation
                and callable(getattr(self.dataset, "get_batch", None)))

    def _make_index_iter(self) -> Iterator[Any]:
        return _index_iter(self._is_iterable, self._auto_collation, self.batch_size,
                           self._index_sampler, self._fast)

    def _context(self) -> Any:
        return self.multiprocessing_context or _default_context()

    # ----------------------------------------------------------------- public
    def __iter__(self) -> Iterator[Any]:
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        from ._multiprocess import MultiProcessIter  # noqa: PLC0415

        if self.persistent_workers:
            if self._iterator is None or self._iterator._shutdown:
                self._iterator = MultiProcessIter(self)
            else:
                self._iterator._reset(self)
            return self._iterator
        return MultiProcessIter(self)

    def __len__(self) -> int:
        if self._is_iterable:
            n = len(self.dataset)  # TypeError when the iterable dataset has no length
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size},"
                f" num_workers={self.num_workers}, drop_last={self.drop_last})")


class _SingleProcessIter:
    """Loads every batch in the calling thread."""

    def __init__(self, loader: DataLoader) -> None:
        # Drawn as in a multi-process run so both consume the generator alike.
        self._base_seed = draw_seed(loader.generator)
        self._index_iter = loader._make_index_iter()
        self._fetcher = create_fetcher(loader._is_iterable, loader.dataset,
                                       loader._auto_collation, loader.collate_fn,
                                       loader.drop_last)

    def __iter__(self) -> _SingleProcessIter:
        return self

    def __next__(self) -> Any:
        index = next(self._index_iter)  # StopIteration ends the epoch
        try:
            return self._fetcher.fetch(index)
        except Exception as exc:  # the dataset's own error, told which sample it was loading
            if not isinstance(exc, StopIteration):
                exc.add_note(f"(DataLoader: while loading {self._fetcher.where(index)})")
            raise
