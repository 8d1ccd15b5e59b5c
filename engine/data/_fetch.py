"""Fetchers: turn one index (or one list of indices) into one batch. The same code runs in the
main process (``num_workers=0``) and in every worker process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .collate import default_collate, default_convert


class _MapFetcher:
    """For map-style datasets. The fast path (``dataset.get_batch``) is taken when the default
    collate is in force; a dataset can still decline a batch by returning None."""

    def __init__(self, dataset: Any, auto_collation: bool,
                 collate_fn: Callable[[Any], Any] | None, drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn or (default_collate if auto_collation else default_convert)
        self.get_batch = (getattr(dataset, "get_batch", None)
                          if auto_collation and collate_fn is None else None)
        self.getitems = getattr(dataset, "__getitems__", None)

        self.current: Any = None  # the sample being read, for messages when that fails

    def fetch(self, index: Any) -> Any:
        self.current = None
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self.get_batch is not None:
            batch = self.get_batch(index)
            if batch is not None:
                return batch
        if isinstance(index, np.ndarray):
            index = index.tolist()
        if self.getitems is not None:
            data = self.getitems(index)
        else:
            dataset, data = self.dataset, []
            for i in index:
                self.current = i
                data.append(dataset[i])
            self.current = None
        return self.collate_fn(data)

    def where(self, index: Any) -> str:
        """The samples a failed ``fetch(index)`` was loading, as a message names them."""
        return index_words(index if self.current is None else self.current, False)


class _IterableFetcher:
    """For iterable datasets: the next ``index`` samples of this process's iterator (``index``
    is the batch size; None when automatic batching is off: one sample, converted)."""

    def __init__(self, dataset: Any, auto_collation: bool,
                 collate_fn: Callable[[Any], Any] | None, drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn or (default_collate if auto_collation else default_convert)
        self.drop_last = drop_last
        self.iterator: Iterator[Any] = iter(dataset)
        self.ended = False

    def where(self, index: Any) -> str:
        return index_words(index, True)

    def fetch(self, index: int | None) -> Any:
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.iterator))
        data = []
        for _ in range(index):
            try:
                data.append(next(self.iterator))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < index):
            raise StopIteration
        return self.collate_fn(data)


def index_words(index: Any, iterable: bool) -> str:
    """"dataset index 13", "dataset indices [12, 13, 14, 15]" (the first few of a long batch),
    or, for an iterable dataset (whose tasks are batch sizes), "a batch of its samples"."""
    if iterable:
        return "a batch of the iterable dataset's samples"
    if isinstance(index, int | np.integer):
        return f"dataset index {int(index)}"
    try:
        items = [int(i) for i in index]
    except (TypeError, ValueError):
        return f"dataset index {index!r}"
    shown = ", ".join(map(str, items[:8])) + (f", ... ({len(items)} in all)"
                                               if len(items) > 8 else "")
    return f"dataset indices [{shown}]"


def create_fetcher(is_iterable: bool, dataset: Any, auto_collation: bool,
                   collate_fn: Callable[[Any], Any] | None, drop_last: bool) -> Any:
    cls = _IterableFetcher if is_iterable else _MapFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)
