"""``default_collate`` and ``default_convert``: how a list of samples becomes one batch, with
PyTorch's rules (tensors and arrays are stacked, Python floats give float64 and ints int64,
tuples of fields become a list of batched fields, dicts are collated per key, strings stay lists).
"""

from __future__ import annotations

import collections.abc as cabc
from typing import Any

import numpy as np

from .._backend import CPU, xp_of
from ..tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")
_BAD_ARRAY_KINDS = "SaUOV"  # strings, objects, void: nothing a tensor can hold


def _stack_tensors(batch: list[Tensor]) -> Tensor:
    first = batch[0]
    shape = first._data.shape
    for i, t in enumerate(batch):
        if t._data.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                f"and {list(t._data.shape)} at entry {i}. Fix: make every sample the same size "
                f"(e.g. transforms.Resize/CenterCrop) or pass a collate_fn that pads"
            )
        if t.device is not first.device:
            raise RuntimeError(
                f"default_collate: sample 0 is on {first.device} but sample {i} is on {t.device}")
    xp = xp_of(first._data)
    arrays = [t._data for t in batch]
    if first.device is CPU:
        return Tensor._make(np.stack(arrays), CPU)
    with first.device.context():
        return Tensor._make(xp.stack(arrays), first.device)


def _stack_arrays(batch: list[np.ndarray]) -> Tensor:
    first = batch[0]
    if first.dtype.kind in _BAD_ARRAY_KINDS:
        raise TypeError(_ERR.format(first.dtype))
    try:
        return Tensor._make(np.stack(batch), CPU)
    except ValueError:
        shapes = [tuple(a.shape) for a in batch]
        bad = next(i for i, s in enumerate(shapes) if s != shapes[0])
        raise RuntimeError(
            f"stack expects each array to be equal size, but got {list(shapes[0])} at entry 0 "
            f"and {list(shapes[bad])} at entry {bad}"
        ) from None


def default_collate(batch: list[Any]) -> Any:
    """Stack a list of samples into a batch of engine tensors (PyTorch's rules).

    Example:
        >>> x, y = default_collate([(np.zeros(3, np.float32), 1), (np.ones(3, np.float32), 0)])
        >>> x.shape, x.dtype, y.dtype
        ((2, 3), dtype('float32'), dtype('int64'))
    """
    if not isinstance(batch, list | tuple):
        batch = list(batch)
    if not batch:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray):
        return _stack_arrays(batch)
    if isinstance(elem, np.generic):
        if elem.dtype.kind in _BAD_ARRAY_KINDS:
            raise TypeError(_ERR.format(elem.dtype))
        return Tensor._make(np.array(batch), CPU)
    if isinstance(elem, bool):
        return Tensor._make(np.array(batch, dtype=np.bool_), CPU)
    if isinstance(elem, int):
        return Tensor._make(np.array(batch, dtype=np.int64), CPU)
    if isinstance(elem, float):
        return Tensor._make(np.array(batch, dtype=np.float64), CPU)
    if isinstance(elem, str | bytes):
        return batch
    if isinstance(elem, cabc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(collated)  # keep OrderedDict, defaultdict-free subclasses, ...
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, cabc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(s) for s in transposed]
        try:
            return type(elem)([default_collate(s) for s in transposed])
        except TypeError:
            return [default_collate(s) for s in transposed]
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays (and arrays inside tuples, lists and dicts) into tensors, leaving
    everything else alone; the collate function used when automatic batching is off
    (``batch_size=None``)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        if data.dtype.kind in _BAD_ARRAY_KINDS:
            return data
        return Tensor._make(data, CPU)
    if isinstance(data, np.generic):
        if data.dtype.kind in _BAD_ARRAY_KINDS:
            return data
        return Tensor._make(np.asarray(data), CPU)
    if isinstance(data, cabc.Mapping):
        converted = {key: default_convert(data[key]) for key in data}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, cabc.Sequence) and not isinstance(data, str | bytes):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
