"""``engine.data.datasets``: ready-made datasets (torchvision's names where they exist).

- Downloaded: ``MNIST``, ``FashionMNIST``, ``KMNIST``, ``CIFAR10`` (MD5-checked, resumable).
- Shipped, offline: ``Digits`` (UCI handwritten digits, 8 x 8 or 28 x 28).
- Synthetic: ``Spirals``, ``Moons``, ``Circles``, ``Blobs``, ``XOR``, ``SequenceTask``,
  ``SyntheticText`` (token sequences for text classifiers).
- Your own data: ``CSVDataset``, ``NPZDataset``, ``ImageFolder``.
- ``channel_stats`` suggests ``Normalize`` values.
"""

from .cifar import CIFAR10
from .digits import Digits
from .download import check_integrity, download_url
from .folder import ImageFolder
from .mnist import KMNIST, MNIST, FashionMNIST, read_idx
from .resources import resource_path, resources_dir
from .stats import ChannelStats, channel_stats
from .synthetic import XOR, Blobs, Circles, Moons, SequenceTask, Spirals, SyntheticText
from .tabular import CSVDataset, NPZDataset

__all__ = [
    "CIFAR10", "KMNIST", "MNIST", "XOR", "Blobs", "CSVDataset", "ChannelStats", "Circles",
    "Digits", "FashionMNIST", "ImageFolder", "Moons", "NPZDataset", "SequenceTask", "Spirals",
    "SyntheticText",
    "channel_stats", "check_integrity", "download_url", "read_idx", "resource_path",
    "resources_dir",
]
