"""``engine.data``: datasets, samplers, the DataLoader (with worker processes) and transforms,
with ``torch.utils.data``'s and torchvision's names and semantics.

Example:
    >>> from engine.data import DataLoader, datasets, transforms as T
    >>> train = datasets.Digits(train=True, size=28, transform=T.Compose(
    ...     [T.ToTensor(), T.Normalize((0.5,), (0.5,))]))
    >>> for images, labels in DataLoader(train, batch_size=64, shuffle=True):
    ...     ...
"""

from . import datasets, transforms
from ._worker import WorkerInfo, get_worker_info
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import (
    ArrayDataset,
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .errors import (
    ChecksumError,
    DataError,
    DatasetFormatError,
    DatasetNotFoundError,
    DownloadError,
    WorkerError,
)
from .sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "ArrayDataset", "BatchSampler", "ChainDataset", "ChecksumError", "ConcatDataset", "DataError",
    "DataLoader", "Dataset", "DatasetFormatError", "DatasetNotFoundError", "DistributedSampler",
    "DownloadError", "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
    "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "WorkerError", "WorkerInfo",
    "datasets", "default_collate", "default_convert", "get_worker_info", "random_split",
    "transforms",
]
