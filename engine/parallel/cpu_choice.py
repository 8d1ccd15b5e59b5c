"""Whether a model trains faster over CPU replicas (``DataParallel(model, ["cpu"] * cores)``)
than as one plain model, for an app that picks the CPU device list by default.

Measured on a 2-core machine against the plain model (``benchmarks/engine_bench.py``, engine
samples/s of the replica row over the plain row, six runs with co-tenants loading the machine):
LeNet-5 1.7-2.8x at batch 64 and 256, a VGG-style CNN 1.3-2.7x, ResNet-18 0.44-1.38x (no
consistent winner: its convolutions already split their batch over the cores inside the op).
The LSTM came out 1.2x and more in those loaded runs, but 0.7-0.9x in the quiet runs of earlier
measurements (its per-step GEMMs are too small to split well), and small MLPs gain nothing.
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
