"""``engine.utils.data.distributed``: where PyTorch scripts find ``DistributedSampler``."""

from ...data.sampler import DistributedSampler

__all__ = ["DistributedSampler"]
