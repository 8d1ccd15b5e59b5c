"""CIFAR-10: the python-pickle batches (``cifar-10-batches-py/``), read with an unpickler that
only rebuilds NumPy arrays, so a tampered batch file cannot run code."""

from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import ArrayDataset
from ..errors import DatasetFormatError, DatasetNotFoundError
from .download import download_url

try:  # NumPy 2 moved the pickled names' home; old pickles still name numpy.core
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]

__all__ = ["CIFAR10", "load_cifar_batch"]

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, strings and NumPy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if (module, name) == ("_codecs", "encode"):  # protocol 2 bytes from Python 3
            import codecs  # noqa: PLC0415

            return codecs.encode
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def load_cifar_batch(path: str | Path) -> tuple[np.ndarray, list[int]]:
    """One CIFAR batch file -> (uint8 images N x 32 x 32 x 3, labels)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            entry = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError) as exc:
        raise DatasetFormatError(f"{path}: not a readable CIFAR batch (truncated or corrupt: "
                                 f"{type(exc).__name__}: {exc}). Delete it and download it "
                                 f"again") from exc
    if not isinstance(entry, dict):
        raise DatasetFormatError(f"{path}: expected a dict with 'data' and 'labels', got "
                                 f"{type(entry).__name__}")
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    data = entry.get("data")
    labels = entry.get("labels", entry.get("fine_labels"))
    if not isinstance(data, np.ndarray) or labels is None:
        raise DatasetFormatError(f"{path}: a CIFAR batch needs 'data' (an array) and 'labels'; "
                                 f"found keys {sorted(entry)}")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetFormatError(f"{path}: 'data' should be uint8 N x 3072, got {data.dtype} "
                                 f"{data.shape}")
    if not isinstance(labels, list | np.ndarray) or not all(
            isinstance(v, int | np.integer) and 0 <= v < 1 << 31 for v in labels):
        raise DatasetFormatError(f"{path}: 'labels' should be a list of class indices (whole "
                                 f"numbers from 0); the file is damaged. Delete it and download "
                                 f"it again")
    labels = [int(v) for v in labels]
    if len(labels) != len(data):
        raise DatasetFormatError(f"{path}: {len(data)} images but {len(labels)} labels")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


class CIFAR10(ArrayDataset):
    """CIFAR-10: 50 000 training and 10 000 test colour images (32 x 32 x 3 uint8), 10 classes.

    Args:
        root: the folder holding ``cifar-10-batches-py/`` (created by ``download=True``).
        train: the training set (else the test set).
        transform: applied to each image (a 32 x 32 x 3 uint8 NumPy array).
        target_transform: applied to each label (an int).
        download: fetch and unpack ``cifar-10-python.tar.gz`` when the batches are missing.
    """

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [
        ["data_batch_1", "c99cafc152244af753f735de768cd75f"],
        ["data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"],
        ["data_batch_3", "54ebc095f3ab1f0389bbae665268c751"],
        ["data_batch_4", "634d18415352ddfa80567beed471001a"],
        ["data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"],
    ]
    test_list = [["test_batch", "40351d587109b95175f43aff81a1287e"]]
    meta = {"filename": "batches.meta", "key": "label_names",
            "md5": "5ff9c542aee3614f3951f8cda6e48888"}
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]

    def __init__(self, root: str | Path, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 download: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.train = train
        if download:
            self.download()
        folder = self.root / self.base_folder
        names = [name for name, _ in (self.train_list if train else self.test_list)]
        missing = [name for name in names if not (folder / name).is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"CIFAR10 {'training' if train else 'test'} set not found: {', '.join(missing)} "
                f"missing in {folder}. Pass download=True to fetch {self.filename} (163 MB) from "
                f"{self.url}, or download it yourself and unpack it in {self.root}")
        parts = [load_cifar_batch(folder / name) for name in names]
        images = np.concatenate([p[0] for p in parts])
        labels = np.asarray([v for p in parts for v in p[1]], dtype=np.int64)
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise DatasetFormatError(f"{folder}: labels must be 0..{len(self.classes) - 1}, found "
                                     f"{int(labels.min())}..{int(labels.max())}")
        self._load_meta(folder)
        super().__init__(images, labels, transform, target_transform)

    def _load_meta(self, folder: Path) -> None:
        path = folder / self.meta["filename"]
        if not path.is_file():
            return  # the class names are known anyway
        try:
            with open(path, "rb") as f:
                meta = _ArrayUnpickler(f, encoding="latin1").load()
            names = meta[self.meta["key"]]
            if len(names) == len(self.classes):
                self.classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        except Exception as exc:
            raise DatasetFormatError(f"{path}: unreadable metadata ({exc})") from exc

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def download(self, opener: Any = None) -> None:
        """Fetch the archive (MD5-checked, resumable) and unpack it atomically."""
        folder = self.root / self.base_folder
        needed = [n for n, _ in self.train_list + self.test_list]
        if all((folder / n).is_file() for n in needed):
            return
        archive = download_url(self.url, self.root / self.filename, self.tgz_md5, opener=opener)
        extract_tar(archive, self.root, self.base_folder)

    def extra_repr(self) -> str:
        return f"Root location: {self.root}\nSplit: {'Train' if self.train else 'Test'}"


def extract_tar(archive: str | Path, root: str | Path, folder: str) -> Path:
    """Unpack ``folder/`` from a .tar.gz into ``root`` via a temporary folder, so ``root/folder``
    appears whole or not at all; members outside ``folder/`` or that are not plain files or
    folders are refused."""
    archive, root = Path(archive), Path(root)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                for member in tar.getmembers():
                    name = Path(member.name)
                    if (name.is_absolute() or ".." in name.parts or not name.parts
                            or name.parts[0] != folder or not (member.isfile() or member.isdir())):
                        raise DatasetFormatError(f"{archive}: unexpected member {member.name!r}")
                try:
                    tar.extractall(tmp, filter="data")
                except TypeError:  # Python < 3.11.4: members were checked above
                    tar.extractall(tmp)  # noqa: S202
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DatasetFormatError(f"{archive}: corrupt or truncated archive ({exc}). Delete it "
                                     f"and download it again") from exc
        dest = root / folder
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp / folder, dest)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
