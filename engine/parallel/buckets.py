"""Gradient buckets: many small tensors packed into a few flat buffers, so a step makes one
collective call per ~25 MB instead of one per tensor (the latency of a call dominates for small
tensors). The plan depends only on shapes and dtypes, so every rank and every device computes the
same plan without talking to each other.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_BUCKET_CAP_MB = 25.0


@dataclass(frozen=True)
class Slot:
    """Where tensor ``index`` lives inside its bucket's flat buffer."""

    index: int
    offset: int
    numel: int
    shape: tuple[int, ...]


@dataclass
class Bucket:
    dtype: np.dtype
    slots: list[Slot] = field(default_factory=list)
    numel: int = 0

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize


def plan_buckets(specs: Sequence[tuple[tuple[int, ...], Any]],
                 cap_mb: float = DEFAULT_BUCKET_CAP_MB, reverse: bool = True) -> list[Bucket]:
    """Group tensors (given as ``(shape, dtype)``) into buckets of about ``cap_mb`` megabytes.

    As in PyTorch's DDP, a bucket is closed once it reaches the cap, so it exceeds the cap by at
    most its last tensor and the number of buckets is at most ceil(total / cap) per dtype.
    ``reverse`` walks the tensors last-to-first, the order in which backward produces
    gradients, so the first bucket fills first.
    """
    if cap_mb <= 0:
        raise ValueError(f"bucket_cap_mb must be > 0, got {cap_mb}")
    cap = int(cap_mb * 1024 * 1024)
    order = range(len(specs) - 1, -1, -1) if reverse else range(len(specs))
    open_buckets: dict[np.dtype, Bucket] = {}
    done: list[Bucket] = []
    for i in order:
        shape, dtype = specs[i]
        dt = np.dtype(dtype)
        numel = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
        b = open_buckets.get(dt)
        if b is None:
            b = open_buckets[dt] = Bucket(dt)
        b.slots.append(Slot(i, b.numel, numel, tuple(shape)))
        b.numel += numel
        if b.nbytes >= cap:
            done.append(open_buckets.pop(dt))
    done.extend(b for b in open_buckets.values() if b.numel)
    return done


def pack(bucket: Bucket, arrays: Sequence[Any], xp: Any = np, out: Any = None,
         scale: float | None = None, placed: Container[int] = ()) -> Any:
    """Copy ``arrays[slot.index]`` of every slot into one flat buffer (zeros where None),
    multiplied by ``scale`` when given: an average across ranks then costs no pass of its own
    (dividing the reduced bucket took ~40 us of a 2.4 ms MLP step). Slots in ``placed`` are
    already in ``out``, scaled (backward computed them there)."""
    flat = xp.empty(bucket.numel, dtype=bucket.dtype) if out is None else out
    for s in bucket.slots:
        if s.index in placed:
            continue
        a = arrays[s.index]
        target = flat[s.offset:s.offset + s.numel]
        if a is None:
            target[...] = 0
        elif scale is None:
            target[...] = a.reshape(-1)
        else:
            xp.multiply(a.reshape(-1), scale, out=target)
    return flat


def unpack(bucket: Bucket, flat: Any) -> Iterator[tuple[int, Any]]:
    """``(index, view)`` for every slot: views into ``flat`` with the tensor's shape."""
    for s in bucket.slots:
        yield s.index, flat[s.offset:s.offset + s.numel].reshape(s.shape)
