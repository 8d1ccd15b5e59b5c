"""MNIST-family IDX files and CIFAR-10 pickle batches, written here in the real formats."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

import engine
from engine.data import DataLoader, DatasetFormatError, DatasetNotFoundError
from engine.data import transforms as T
from engine.data.datasets import CIFAR10, KMNIST, MNIST, FashionMNIST, read_idx
from engine.data.datasets.cifar import load_cifar_batch

_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
          np.float64: 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, _CODES[arr.dtype.type], arr.ndim])
    header += struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = False) -> Path:
    data = idx_bytes(arr)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def make_mnist(root: Path, name: str = "MNIST", n: int = 12, gz: bool = False,
               train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    prefix = "train" if train else "t10k"
    ext = ".gz" if gz else ""
    write_idx(root / name / "raw" / f"{prefix}-images-idx3-ubyte{ext}", images, gz)
    write_idx(root / name / "raw" / f"{prefix}-labels-idx1-ubyte{ext}", labels, gz)
    return images, labels


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path: Path, dtype: type, gz: bool) -> None:
    arr = (np.arange(24).reshape(2, 3, 4) * 3 - 5).astype(dtype)
    out = read_idx(write_idx(tmp_path / "a.idx", arr, gz))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)
    out[0, 0, 0] = 1  # a writable copy


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_family_loads_gzipped_or_not(tmp_path: Path, gz: bool) -> None:
    for cls in (MNIST, FashionMNIST, KMNIST):
        images, labels = make_mnist(tmp_path, cls.__name__, gz=gz, train=False)
        ds = cls(tmp_path, train=False, transform=T.ToTensor())
        assert len(ds) == 12 and ds.classes == cls.classes
        x, y = ds[3]
        assert x.shape == (1, 28, 28) and y == int(labels[3]) and isinstance(y, int)
        np.testing.assert_array_equal(x.numpy()[0], images[3] / np.float32(255))
        xb, yb = next(iter(DataLoader(ds, batch_size=5)))
        assert xb.shape == (5, 1, 28, 28) and yb.dtype == engine.int64


def test_mnist_missing_files_name_them_and_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        MNIST(tmp_path)
    msg = str(info.value)
    assert "train-images-idx3-ubyte(.gz)" in msg and "train-labels-idx1-ubyte(.gz)" in msg
    assert str(tmp_path / "MNIST" / "raw") in msg and "download=True" in msg


def test_truncated_idx_is_reported_with_file_and_sizes(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetFormatError, match=r"train-images-idx3-ubyte: truncated: the "
                                                 r"header promises 12x28x28 values"):
        MNIST(tmp_path)


def test_truncated_gzip_is_reported(tmp_path: Path) -> None:
    make_mnist(tmp_path, gz=True)
    path = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DatasetFormatError, match="train-labels-idx1-ubyte.gz: corrupt or "
                                                 "truncated gzip file"):
        MNIST(tmp_path)


@pytest.mark.parametrize("data,problem", [
    (b"\x00\x00", "shorter than the 4-byte magic number"),
    (b"PK\x03\x04rest", "not an IDX file"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated in the header"),
    (idx_bytes(np.zeros(3, np.uint8)) + b"xx", "2 unexpected bytes"),
])
def test_corrupt_idx_files(tmp_path: Path, data: bytes, problem: str) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(data)
    with pytest.raises(DatasetFormatError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_mismatched_image_and_label_counts(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    write_idx(tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte", np.zeros(11, np.uint8))
    with pytest.raises(DatasetFormatError, match="holds 12 images but .* holds 11 labels"):
        MNIST(tmp_path)


def write_cifar_batch(path: Path, n: int, seed: int, protocol: int = 2) -> tuple:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    entry = {"batch_label": f"batch {seed}", "labels": labels, "data": data,
             "filenames": [f"img_{i}.png" for i in range(n)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=protocol)
    return data, labels


def make_cifar(root: Path, n: int = 4) -> tuple[np.ndarray, list[int]]:
    folder = root / CIFAR10.base_folder
    parts = [write_cifar_batch(folder / name, n, i) for i, (name, _) in
             enumerate(CIFAR10.train_list)]
    write_cifar_batch(folder / "test_batch", n, 99)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR10.classes, "num_vis": 3072}, f, protocol=2)
    return np.concatenate([p[0] for p in parts]), sum((p[1] for p in parts), [])


def test_cifar10_loads_batches_in_hwc_layout(tmp_path: Path) -> None:
    data, labels = make_cifar(tmp_path)
    ds = CIFAR10(tmp_path, train=True)
    assert len(ds) == 20 and ds.data.shape == (20, 32, 32, 3)
    img, y = ds[7]
    np.testing.assert_array_equal(img, data[7].reshape(3, 32, 32).transpose(1, 2, 0))
    assert y == labels[7]
    assert len(CIFAR10(tmp_path, train=False)) == 4
    tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor()])
    xb, yb = next(iter(DataLoader(CIFAR10(tmp_path, transform=tf), batch_size=8)))
    assert xb.shape == (8, 3, 32, 32) and xb.dtype == engine.float32


def test_cifar_batch_with_bytes_keys_and_protocol_4(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    path = tmp_path / "b"
    with open(path, "wb") as f:
        pickle.dump({b"data": data, b"labels": [1, 2, 3]}, f, protocol=4)
    images, labels = load_cifar_batch(path)
    assert images.shape == (3, 32, 32, 3) and labels == [1, 2, 3]


def test_cifar_missing_and_truncated(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="data_batch_1, .*data_batch_5 missing in"):
        CIFAR10(tmp_path)
    make_cifar(tmp_path)
    path = tmp_path / CIFAR10.base_folder / "data_batch_3"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DatasetFormatError, match="data_batch_3: not a readable CIFAR batch"):
        CIFAR10(tmp_path)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > should_not_exist",))


def test_cifar_batches_cannot_run_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps({"data": _Evil(), "labels": []}, protocol=2))
    with pytest.raises(DatasetFormatError, match="global (posix|os|nt).system is not allowed"):
        load_cifar_batch(path)
    assert not (tmp_path / "should_not_exist").exists()


def test_cifar_wrong_shapes(tmp_path: Path) -> None:
    path = tmp_path / "b"
    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f, protocol=2)
    with pytest.raises(DatasetFormatError, match=r"'data' should be uint8 N x 3072"):
        load_cifar_batch(path)
