"""``SyncBatchNorm``: batch normalisation whose training statistics cover the whole global batch,
not each replica's slice, with ``torch.nn.SyncBatchNorm``'s API and state_dict keys.

Statistics are exchanged through a *sync group* with one method, ``all_gather(array) -> list``
(one entry per participant, in a fixed order, so every participant combines them identically):

- ``ThreadSyncGroup``: the replicas of one ``DataParallel`` (threads meeting at a barrier);
- the default ``engine.distributed`` process group (ranks under MPI), for
  ``DistributedDataParallel``;
- no group at all (one process, one device): plain batch normalisation.

Forward exchanges each participant's (count, mean, M2) and combines them with Chan's parallel
variance formula (stable, unlike sum-of-squares); backward exchanges sum(dy) and sum(dy * x_hat),
the two batch-wide terms of batch norm's input gradient.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .._backend import xp_of
from ..autograd.function import Function
from ..nn import Module
from ..nn.parameter import Parameter
from ..tensor import Tensor

BARRIER_TIMEOUT_S = 600.0


class ThreadSyncGroup:
    """The replicas of one DataParallel, one thread each; ``begin(n)`` before each parallel
    region, ``set_index(i)`` in replica ``i``'s thread."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._barrier = threading.Barrier(1)
        self._slots: list[Any] = [None]

    def __deepcopy__(self, memo: dict[int, Any]) -> ThreadSyncGroup:
        return ThreadSyncGroup()

    def attach(self, replicas: Any) -> None:
        for r in replicas:
            for m in r.modules():
                if isinstance(m, SyncBatchNorm):
                    m.process_group = self

    def begin(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties, timeout=BARRIER_TIMEOUT_S)
        self._slots = [None] * parties

    def set_index(self, i: int) -> None:
        self._local.index = i

    def abort(self) -> None:
        self._barrier.abort()

    def all_gather(self, arr: Any) -> list[Any]:
        i = self._local.index
        self._slots[i] = arr
        self._barrier.wait()
        out = list(self._slots)
        self._barrier.wait()  # nobody overwrites a slot before everyone has read them all
        return out


class _DistributedSyncGroup:
    """The default process group (ranks under MPI), seen through ``all_gather``."""

    def all_gather(self, arr: Any) -> list[Any]:
        from .. import distributed as dist  # noqa: PLC0415

        host = arr if xp_of(arr) is np else arr.get()
        stacked = dist.default_group().all_gather_array(host)
        xp = xp_of(arr)
        return [row if xp is np else xp.asarray(row) for row in stacked]


def _group_for(module: SyncBatchNorm) -> Any:
    if module.process_group is not None:
        return module.process_group
    from .. import distributed as dist  # noqa: PLC0415

    if dist.is_initialized() and dist.get_world_size() > 1:
        return _DistributedSyncGroup()
    return None


class _SyncBatchNormFn(Function):
    """Training-mode batch norm over every participant's batch (see the module docstring)."""

    def forward(self, x: Any, weight: Any, bias: Any, eps: float, group: Any,
                stats: list[Any]) -> Any:
        xp = xp_of(x)
        axes = (0, *range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        count = x.size // x.shape[1]
        mean_l = x.mean(axis=axes)
        m2_l = ((x - mean_l.reshape(shape)) ** 2).sum(axis=axes)
        if group is None:
            n, mean, m2 = float(count), mean_l, m2_l
        else:
            mine = xp.concatenate([xp.asarray([count], dtype=np.float64),
                                   mean_l.astype(np.float64), m2_l.astype(np.float64)])
            parts = group.all_gather(mine)
            c = x.shape[1]
            counts = [float(p[0]) for p in parts]
            n = sum(counts)
            mean64 = sum(ni * p[1:1 + c] for ni, p in zip(counts, parts)) / n
            m2 = sum(p[1 + c:] + ni * (p[1:1 + c] - mean64) ** 2 for ni, p in zip(counts, parts))
            mean = mean64.astype(x.dtype)
            m2 = m2.astype(x.dtype)
        var = m2 / n
        invstd = 1.0 / xp.sqrt(var + eps)
        xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
        stats.append((mean, var, n))
        self.xhat, self.invstd, self.weight, self.n, self.group = xhat, invstd, weight, n, group
        self.axes, self.shape = axes, shape
        y = xhat
        if weight is not None:
            y = y * weight.reshape(shape)
        if bias is not None:
            y = y + bias.reshape(shape)
        return y

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        axes, shape, xhat = self.axes, self.shape, self.xhat
        sum_dy = g.sum(axis=axes)
        sum_dy_xhat = (g * xhat).sum(axis=axes)
        gx = None
        if self.needs[0]:
            tot_dy, tot_dyx = sum_dy, sum_dy_xhat
            if self.group is not None:
                c = sum_dy.shape[0]
                parts = self.group.all_gather(xp.concatenate([sum_dy, sum_dy_xhat]))
                both = parts[0]
                for p in parts[1:]:
                    both = both + p
                tot_dy, tot_dyx = both[:c], both[c:]
            scale = self.invstd if self.weight is None else self.invstd * self.weight
            gx = (g - (tot_dy / self.n).reshape(shape)
                  - xhat * (tot_dyx / self.n).reshape(shape)) * scale.reshape(shape)
        gw = sum_dy_xhat if self.needs[1] else None
        gb = sum_dy if self.needs[2] else None
        return (gx, gw, gb, None, None, None)


class SyncBatchNorm(Module):
    """Batch normalisation with statistics over the whole batch of every replica or rank.

    Args / Shape: as ``BatchNorm1d/2d/3d`` (input ``(N, C, *)``); ``process_group`` is set by
    ``DataParallel(sync_batchnorm=True)``, or left None to use the default distributed group
    (plain batch norm when there is none).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        from .. import creation  # noqa: PLC0415

        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.process_group = process_group
        kw = {"device": device, "dtype": dtype or "float32"}
        if affine:
            self.weight = Parameter(creation.ones(num_features, **kw))
            self.bias = Parameter(creation.zeros(num_features, **kw))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, **kw))
            self.register_buffer("running_var", creation.ones(num_features, **kw))
            self.register_buffer("num_batches_tracked",
                                 creation.zeros((), dtype="int64", device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's name
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")
        if input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: input has {input.shape[1]} channels, the layer "
                             f"expects num_features={self.num_features}")
        shape = (1, self.num_features) + (1,) * (input.ndim - 2)
        if not self.training and self.track_running_stats:
            rm = self.running_mean.reshape(shape)
            rv = self.running_var.reshape(shape)
            y = (input - rm) / (rv + self.eps).sqrt()
            if self.weight is not None:
                y = y * self.weight.reshape(shape) + self.bias.reshape(shape)
            return y
        stats: list[Any] = []
        y = _SyncBatchNormFn.apply(input, self.weight, self.bias, self.eps, _group_for(self),
                                   stats)
        if self.training and self.track_running_stats:
            mean, var, n = stats[0]
            self.num_batches_tracked._data[...] += 1
            factor = (1.0 / float(self.num_batches_tracked._data) if self.momentum is None
                      else self.momentum)
            unbiased = var * (n / max(n - 1.0, 1.0))
            rm, rv = self.running_mean._data, self.running_var._data
            rm[...] = (1 - factor) * rm + factor * mean.astype(rm.dtype)
            rv[...] = (1 - factor) * rv + factor * unbiased.astype(rv.dtype)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """Replace every BatchNorm layer of ``module`` by a SyncBatchNorm that shares its
        parameters and buffers (so an optimizer made earlier still holds the right ones)."""
        from .. import nn  # noqa: PLC0415

        bn_types = tuple(getattr(nn, n) for n in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
                         if hasattr(nn, n))
        out = module
        if bn_types and isinstance(module, bn_types):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group)
            if module.affine:
                out.weight = module.weight
                out.bias = module.bias
            if module.track_running_stats:
                out.running_mean = module.running_mean
                out.running_var = module.running_var
                out.num_batches_tracked = module.num_batches_tracked
            out.train(module.training)
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out
