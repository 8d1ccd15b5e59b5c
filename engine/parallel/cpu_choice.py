"""Whether a model trains faster over CPU replicas (``DataParallel(model, ["cpu"] * cores)``)
than as one plain model, for an app that picks the CPU device list by default.

Measured on a 2-core machine against the plain model (``benchmarks/engine_bench.py``, engine
samples/s of the replica row over the plain row). First, with co-tenants loading the machine:
LeNet-5 1.7-2.8x at batch 64 and 256, a VGG-style CNN 1.3-2.7x, ResNet-18 0.44-1.38x. Since
the plain model's op threads no longer compete with spinning OpenBLAS workers
(``engine._blas_env``), three quieter runs: LeNet-5 1.08-1.27x, ResNet-18 1.08-1.18x,
VGG-style 0.97-1.03x. The LSTM (batch 64, 50 steps) came out 1.02-1.27x in those runs but
0.7-0.9x in quiet runs of earlier measurements (its per-step GEMMs are too small to split
well), and small MLPs gain nothing.
So: convolutional networks without recurrent layers, on several cores, with at least two
samples per replica.
"""

from __future__ import annotations

import os
from typing import Any


def prefer_cpu_replicas(model: Any, batch_size: int, cores: int | None = None) -> bool:
    """True when ``model`` (an ``engine.nn.Module``) should train over one CPU replica per core
    rather than as one plain model: it has a convolution, no recurrent layer, the machine has
    at least 2 cores (``cores``, default ``os.cpu_count()``) and the batch gives every replica
    at least 2 samples (BatchNorm needs more than one value per channel).

    Example::

        devices = ["cpu"] * os.cpu_count() if prefer_cpu_replicas(model, 64) else ["cpu"]
    """
    from ..nn.modules.conv import _ConvNd  # noqa: PLC0415
    from ..nn.modules.rnn import RNNBase  # noqa: PLC0415

    cores = (os.cpu_count() or 1) if cores is None else cores
    if cores < 2 or batch_size < 2 * cores:
        return False
    modules = list(model.modules())
    return (any(isinstance(m, _ConvNd) for m in modules)
            and not any(isinstance(m, RNNBase) for m in modules))
