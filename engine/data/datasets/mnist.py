"""MNIST, Fashion-MNIST and Kuzushiji-MNIST: IDX files (gzipped or not), torchvision's folder
layout (``<root>/<Name>/raw/``), mirrors and MD5s."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import ArrayDataset
from ..errors import DatasetFormatError, DatasetNotFoundError, DownloadError
from . import download as _download

__all__ = ["KMNIST", "MNIST", "FashionMNIST", "read_idx"]

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# The most bytes of values an IDX file may declare: 4x the largest of the family (EMNIST's
# 700 000 28 x 28 images are 550 MB). A header past it is damaged or hostile (a gzip "bomb"
# that inflates to far more than any dataset), and is refused before anything is allocated.
MAX_IDX_BYTES = 1 << 31


def _open(path: Path) -> Any:
    """The file for reading, decompressed on the fly when it is gzip (told by its content,
    not its name)."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115 - returned


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format): 2 zero bytes, a type code, the number of
    dimensions, the sizes as big-endian uint32, then the values. Gzipped files are fine; the
    values are read up to the size the header declares (at most ``MAX_IDX_BYTES``), never
    more, so a file that inflates without end is refused after that much."""
    path = Path(path)
    try:
        with _open(path) as f:
            magic = f.read(4)
            if len(magic) < 4:
                raise DatasetFormatError(f"{path}: not an IDX file: {len(magic)} bytes, shorter "
                                         f"than the 4-byte magic number")
            code, ndim = magic[2], magic[3]
            if magic[:2] != b"\0\0" or code not in _IDX_TYPES or ndim == 0:
                raise DatasetFormatError(
                    f"{path}: not an IDX file (magic number 0x{magic.hex()}; IDX files start "
                    f"with 0x0000, a type code such as 08 for uint8, and the number of "
                    f"dimensions)")
            sizes = f.read(4 * ndim)
            if len(sizes) < 4 * ndim:
                raise DatasetFormatError(f"{path}: truncated in the header ({4 + len(sizes)} "
                                         f"bytes, the header alone needs {4 + 4 * ndim})")
            dims = struct.unpack(f">{ndim}I", sizes)
            dtype = np.dtype(_IDX_TYPES[code])
            count = math.prod(dims)
            need = count * dtype.itemsize
            shape = "x".join(str(d) for d in dims)
            if need > MAX_IDX_BYTES:
                raise DatasetFormatError(
                    f"{path}: the header declares {shape} values ({need} bytes), more than an "
                    f"IDX dataset file may hold ({MAX_IDX_BYTES} bytes); the file is damaged or "
                    f"not from the MNIST family. Delete it and download it again")
            raw = f.read(need + 1)  # one byte more tells a longer stream, without reading it
            extra, gz = len(raw) - need, isinstance(f, gzip.GzipFile)
            if extra > 0 and not gz:  # a plain file says how much more
                extra = os.fstat(f.fileno()).st_size - (4 + 4 * ndim) - need
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetFormatError(f"{path}: corrupt or truncated gzip file ({exc}). Delete it and "
                                 f"download it again") from exc
    if extra < 0:
        raise DatasetFormatError(f"{path}: truncated: the header promises {shape} values "
                                 f"({need} bytes) but only {len(raw)} bytes follow. Delete it and "
                                 f"download it again")
    if extra > 0:
        more = "more data" if gz else f"{extra} unexpected bytes"
        raise DatasetFormatError(f"{path}: corrupt: {more} after the {shape} values the header "
                                 f"describes")
    arr = np.frombuffer(raw, dtype=dtype, count=count).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # native byte order, writable copy


class MNIST(ArrayDataset):
    """The MNIST handwritten digits (60 000 training and 10 000 test images, 28 x 28, uint8).

    Args:
        root: the folder holding ``MNIST/raw/`` (created by ``download=True``).
        train: the training set (else the test set).
        transform: applied to each image (a 28 x 28 uint8 NumPy array), e.g.
            ``transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,),
            (0.3081,))])``.
        target_transform: applied to each label (an int).
        download: fetch the files from the mirrors when they are not there yet.

    Unlike torchvision, samples are NumPy arrays rather than PIL images; every transform here
    takes either.
    """

    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | Path, train: bool = True,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 download: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.train = train
        if download:
            self.download()
        prefix = "train" if train else "t10k"
        names = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
        found = [self._find(name) for name in names]
        if None in found:
            missing = [f"{n}(.gz)" for n, f in zip(names, found) if f is None]
            raise DatasetNotFoundError(
                f"{type(self).__name__} {'training' if train else 'test'} set not found: "
                f"{' and '.join(missing)} missing in {self.raw_folder}. Pass download=True to "
                f"fetch them from {self.mirrors[0]}, or put the files (gzipped or not) in that "
                f"folder yourself")
        images, labels = read_idx(found[0]), read_idx(found[1])
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DatasetFormatError(f"{found[0]}: expected uint8 images N x H x W, got "
                                     f"{images.dtype} of shape {images.shape}")
        if labels.ndim != 1:
            raise DatasetFormatError(f"{found[1]}: expected one label per image (1-D), got shape "
                                     f"{labels.shape}")
        if len(images) != len(labels):
            raise DatasetFormatError(f"{found[0]} holds {len(images)} images but {found[1]} holds "
                                     f"{len(labels)} labels; one of them is damaged")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise DatasetFormatError(f"{found[1]}: labels must be 0..{len(self.classes) - 1}, "
                                     f"found {int(labels.min())}..{int(labels.max())}")
        super().__init__(images, labels.astype(np.int64), transform, target_transform)

    @property
    def raw_folder(self) -> Path:
        return self.root / type(self).__name__ / "raw"

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def _find(self, name: str) -> Path | None:
        for candidate in (self.raw_folder / name, self.raw_folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        return None

    def _check_exists(self) -> bool:
        return all(self._find(Path(f).stem) is not None for f, _ in self.resources)

    def download(self, opener: Any = None) -> None:
        """Fetch every missing file (MD5-checked, resumable) and unpack it next to the .gz."""
        self.fetch(self.raw_folder, opener)

    @classmethod
    def fetch(cls, raw_folder: Path, opener: Any = None,
              progress: Callable[[int, int | None, str], None] | None = None) -> None:
        """``download`` into any ``raw_folder`` without loading the data (the app's download
        button); ``progress(bytes_so_far, total_or_None, "file (k/n)")`` reports each file."""
        raw_folder.mkdir(parents=True, exist_ok=True)
        n = len(cls.resources)
        for k, (filename, md5) in enumerate(cls.resources):
            raw = raw_folder / Path(filename).stem
            gz = raw_folder / filename
            if raw.is_file():
                continue
            if not _download.check_integrity(gz, md5):
                label = f"{filename} ({k + 1}/{n})"
                each = None if progress is None else (
                    lambda got, total, label=label: progress(got, total, label))
                errors = []
                for mirror in cls.mirrors:
                    try:
                        _download.download_url(mirror + filename, gz, md5, opener=opener,
                                               progress=each)
                        break
                    except DownloadError as exc:
                        errors.append(f"  {mirror}: {exc}")
                else:
                    urls = ", ".join(m + filename for m in cls.mirrors)
                    raise DownloadError(
                        f"Could not download {cls.__name__} file {filename}:\n"
                        + "\n".join(errors)
                        + f"\nIf this machine is offline, download the files "
                        f"{', '.join(f for f, _ in cls.resources)} (e.g. from {urls}) and put "
                        f"them, gzipped or not, in {raw_folder}")
            _download.extract_gzip(gz, raw)

    def extra_repr(self) -> str:
        return f"Root location: {self.root}\nSplit: {'Train' if self.train else 'Test'}"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 10 kinds of clothing, MNIST's format and sizes."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


class KMNIST(MNIST):
    """Kuzushiji-MNIST: 10 classes of cursive Japanese characters, MNIST's format and sizes."""

    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
        ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
        ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
        ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
    ]
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
