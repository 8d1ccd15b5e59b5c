"""Datasets: map-style (``__getitem__`` + ``__len__``) and iterable, with PyTorch's names.

Map-style datasets that hold their samples in memory may also offer ``get_batch(indices)``: it
returns a whole, already collated batch from one fancy index, running batch-capable transforms on
the whole batch (see ``ArrayDataset``), or None when it can't (a transform that only works on one
sample). The DataLoader uses it when the default ``collate_fn`` is in force; that is the fast path.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor, from_numpy
from .sampler import resolve_generator

__all__ = [
    "ArrayDataset", "ChainDataset", "ConcatDataset", "Dataset", "IterableDataset", "Subset",
    "TensorDataset", "random_split",
]


class Dataset:
    """A map-style dataset: ``dataset[i]`` is sample ``i``; subclasses define ``__getitem__``
    and ``__len__``."""

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples (``__iter__``). With worker processes every worker iterates its own
    copy; use ``get_worker_info()`` inside ``__iter__`` to give each worker its own share."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: Dataset) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


def _batch_tensor(x: Any) -> Any:
    """Wrap a batch array as the default collate would give it (tensors stay tensors)."""
    if isinstance(x, np.ndarray):
        return from_numpy(x)
    return x


class TensorDataset(Dataset):
    """Samples are the i-th rows of the given tensors (or arrays), which share their first size.

    Example:
        >>> ds = TensorDataset(engine.randn(100, 3), engine.randint(0, 2, (100,)))
        >>> x, y = ds[0]
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = [t.shape[0] if t.ndim else None for t in tensors]
        if any(s is None for s in sizes) or len(set(sizes)) != 1:
            raise ValueError(
                f"Size mismatch between tensors: first sizes are {sizes}; every tensor must have "
                f"the same size in dimension 0"
            )
        self.tensors = tuple(from_numpy(t) if isinstance(t, np.ndarray) else t for t in tensors)

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(Tensor._make(t._data[index], t.device) for t in self.tensors)

    def get_batch(self, indices: Any) -> list[Tensor]:
        idx = np.asarray(indices, dtype=np.int64)
        out = []
        for t in self.tensors:
            if t.device.type != "cpu":
                idx_dev = t.device.xp.asarray(idx)
                out.append(Tensor._make(t._data[idx_dev], t.device))
            else:
                out.append(Tensor._make(t._data[idx], t.device))
        return out

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class ArrayDataset(Dataset):
    """An in-memory dataset of ``data[i]`` (a NumPy array row) and ``targets[i]``.

    The base of every built-in dataset that fits in memory (MNIST, CIFAR10, Digits, the synthetic
    sets, CSV and NPZ tables). ``dataset[i]`` gives ``(sample, target)``: an image (uint8 data)
    stays a NumPy array, H x W or H x W x C, ready for ``transforms.ToTensor``; any other sample
    becomes an engine Tensor (a view, no copy). An integer target becomes a Python int, as in
    torchvision.

    ``get_batch`` gathers a batch with one fancy index and runs the transform on the whole batch
    when it is batch-capable (every built-in transform is, except ``Lambda``).

    Args:
        data: samples stacked along the first dimension.
        targets: one target per sample (None: samples only).
        transform: applied to a sample (and to a batch when it has ``apply_batch``).
        target_transform: applied to a target.
    """

    def __init__(self, data: np.ndarray, targets: np.ndarray | None = None,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None) -> None:
        data = np.asarray(data)
        if data.ndim == 0:
            raise ValueError("ArrayDataset: data must have at least one dimension (the samples)")
        if targets is not None:
            targets = np.asarray(targets)
            if targets.shape[:1] != data.shape[:1]:
                raise ValueError(
                    f"ArrayDataset: data has {data.shape[0]} samples but targets has "
                    f"{targets.shape[0] if targets.ndim else 0}; they must match"
                )
        self.data = data
        self.targets = targets
        self.transform = transform
        self.target_transform = target_transform

    # data and targets are properties so the per-sample shortcuts below stay right when a user
    # replaces them (as torchvision users do with ``dataset.data = ...``).
    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        self._data = np.asarray(value)
        self._is_image = self._data.dtype == np.uint8 and self._data.ndim in (3, 4)

    @property
    def targets(self) -> np.ndarray | None:
        return self._targets

    @targets.setter
    def targets(self, value: np.ndarray | None) -> None:
        self._targets = None if value is None else np.asarray(value)
        # Integer class labels come out as Python ints (as torchvision's); a list is the
        # cheapest way to hand them out one at a time.
        t = self._targets
        self._target_list = (t.tolist() if t is not None and t.ndim == 1 and t.dtype.kind in "iub"
                             else None)

    def __len__(self) -> int:
        return self._data.shape[0]

    def __getitem__(self, index: int) -> Any:
        x = self._data[index]
        if not self._is_image:
            x = from_numpy(x) if isinstance(x, np.ndarray) else from_numpy(np.asarray(x))
        if self.transform is not None:
            x = self.transform(x)
        if self._targets is None:
            return x
        y = self._target_list[index] if self._target_list is not None else self._targets[index]
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def get_batch(self, indices: Any) -> list[Any] | Any | None:
        """The collated batch for ``indices`` from one fancy index (None when a transform can
        only handle one sample at a time)."""
        transform, target_transform = self.transform, self.target_transform
        if transform is not None and not getattr(transform, "batchable", False):
            return None
        if target_transform is not None and not getattr(target_transform, "batchable", False):
            return None
        idx = np.asarray(indices, dtype=np.int64)
        x = self.data[idx]
        if transform is not None:
            if not self._is_image:
                x = from_numpy(x)
            x = transform.apply_batch(x)  # type: ignore[union-attr]
        x = _batch_tensor(x)
        if self.targets is None:
            return x
        y = self.targets[idx]
        if target_transform is not None:
            y = target_transform.apply_batch(y)  # type: ignore[union-attr]
        elif y.dtype.kind in "iu" and y.dtype != np.int64:
            y = y.astype(np.int64)  # what collating Python ints gives
        return [x, _batch_tensor(y)]

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}"]
        extra = self.extra_repr()
        if extra:
            lines += ["    " + line for line in extra.splitlines()]
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"    Target transform: {self.target_transform!r}")
        return "\n".join(lines)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: int | list[int]) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def get_batch(self, indices: Any) -> Any:
        get = getattr(self.dataset, "get_batch", None)
        if get is None:
            return None
        mapped = np.asarray(self.indices, dtype=np.int64)[np.asarray(indices, dtype=np.int64)]
        return get(mapped)

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several map-style datasets one after the other."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset; use ChainDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = 0 if which == 0 else self.cumulative_sizes[which - 1]
        return self.datasets[which][idx - start]


class ChainDataset(IterableDataset):
    """Several iterable datasets one after the other."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)  # type: ignore[arg-type]


def random_split(dataset: Dataset, lengths: Sequence[int | float],
                 generator: Any = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    ``lengths`` are counts that add up to ``len(dataset)``, or fractions that add up to 1 (the
    remainder of the rounding goes round-robin to the first subsets, as PyTorch does). Pass
    ``generator=numpy.random.default_rng(seed)`` for a split that doesn't depend on the global
    seed.
    """
    n = len(dataset)  # type: ignore[arg-type]
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and not all(
            isinstance(f, int) for f in lengths):
        counts = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            counts.append(int(math.floor(n * frac)))
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty "
                              f"dataset.", stacklevel=2)
        lengths = counts
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions, "
                         f"got {list(lengths)}")
    if sum(lengths) != n:
        raise ValueError(
            f"Sum of input lengths ({int(sum(lengths))}) does not equal the length of the input "
            f"dataset ({n})!"
        )
    perm = resolve_generator(generator).permutation(n).tolist()
    out, offset = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[offset:offset + int(length)]))
        offset += int(length)
    return out
