"""Data files a user can get wrong, refused where they enter (the dataset's construction) with a
DatasetFormatError naming the file, the row or index and the fix: CSV labels and rows, NPZ
arrays, ImageFolder sizes, decompression bombs and symlink loops, IDX gzip bombs, CIFAR
labels. Every file is written here in its real format."""

from __future__ import annotations

import csv
import gzip
import math
import os
import pickle
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from file_properties import bounded, loads_or_refuses
from hypothesis import given
from hypothesis import strategies as st
from test_data_files import idx_bytes, write_cifar_batch

from engine.data import DatasetFormatError
from engine.data.datasets import CSVDataset, ImageFolder, NPZDataset, read_idx
from engine.data.datasets.cifar import load_cifar_batch
from engine.data.datasets.mnist import MAX_IDX_BYTES
from engine.data.datasets.tabular import MAX_CLASSES


# ----------------------------------------------------------------------------- CSV
def csv_file(tmp_path: Path, labels: list[str], **kw: object) -> CSVDataset:
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{i * 2},{v}\n" for i, v in enumerate(labels)))
    return CSVDataset(path, label_column="label", **kw)


@pytest.mark.parametrize(("labels", "task", "match"), [
    (["0", "1", "1e30"], "auto", r"row 4, column 'label' \(column 3\): class label 1e30 is too "
                                 r"large \(at most 999999\); is this an id or a numeric column\?"),
    (["0", "nan", "1"], "auto", r"row 3, column 'label' \(column 3\): 'nan' is not a class "
                                r"index; class labels are whole numbers"),
    (["0", "1", "inf"], "classification", r"row 4, .*'inf' is not a class index"),
    (["0", "0.5", "1"], "classification", r"row 3, .*'0.5' is not a class index; .* for numeric "
                                          r"targets use task='regression'"),
    (["0", "-1", "1"], "auto", r"row 3, .*class label -1 is negative; .*renumber the classes "
                               r"from 0"),
    (["0", "", "1"], "auto", r"row 3, column 'label' \(column 3\): the label is empty; fill it "
                             r"in or drop the row"),
    (["0.5", "nan", "1"], "auto", r"row 3, .*'nan' is not finite; fill in a number or drop "
                                  r"the row"),
    (["0.5", "x", "1"], "regression", r"row 3, .*'x' is not a number; regression targets"),
])
def test_bad_csv_labels_name_the_row(labels: list[str], task: str, match: str,
                                     tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match=f"t.csv: {match}"):
        csv_file(tmp_path, labels, task=task)


def test_good_csv_labels_still_load(tmp_path: Path) -> None:
    assert csv_file(tmp_path, ["0", "2", str(MAX_CLASSES - 1)]).targets.tolist()[-1] == \
        MAX_CLASSES - 1
    assert csv_file(tmp_path, ["0", "2.0", "1"]).targets.dtype == np.int64  # whole floats
    assert csv_file(tmp_path, ["0.5", "2", "1"]).targets.dtype == np.float32  # regression
    assert csv_file(tmp_path, ["b", "a", "b"]).classes == ["a", "b"]


@pytest.mark.parametrize(("content", "match"), [
    (b"a,b,label\n1,2,0\n3,4,1,9\n",
     r"row 3 has 4 fields but the header has 3; fix that row \(a missing or extra ','"),
    (b'a,b,label\n1,2,0\n\n3,"4\n' + b"x" * 200_000 + b"\n",
     r"line 4: field larger than field limit .*a quote that is never closed"),
    (b"a,b,label\n1,2,0\n3,4,\xe9t\xe9\n",  # Latin-1, not UTF-8
     r"line 3: not UTF-8 text \(byte 0xe9 at offset 20\); save the file as UTF-8"),
    (b"a,b,label\n1,inf,0\n",
     r"row 2, column 'b' \(column 2\): 'inf' is not finite; fill in a number or drop the row"),
    (b"a,b,label\n1,3.5e38,0\n",  # finite, but inf as float32
     r"row 2, column 'b' \(column 2\): '3.5e38' is too large for float32, .*rescale the column"),
    (b"a,label\n1,0.5\n2,-1e39\n",
     r"row 3, column 'label' \(column 2\): '-1e39' is too large for float32"),
])
def test_bad_csv_rows_name_the_line(content: bytes, match: str, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(content)
    with pytest.raises(DatasetFormatError, match=f"rows.csv: {match}"):
        CSVDataset(path)


# ----------------------------------------------------------------------------- NPZ
@pytest.mark.parametrize(("arrays", "match"), [
    ({"x": np.array([["a", "b"]] * 3), "y": np.zeros(3, int)},
     r"array 'x' holds text \(<U1\); it must hold numbers"),
    ({"x": np.ones((3, 2), complex), "y": np.zeros(3, int)}, r"array 'x' holds complex numbers"),
    ({"x": np.ones((3, 2)), "y": np.zeros((3, 1), int)},
     r"'y' has shape \(3, 1\): class labels are one number per sample, a 1-D array; save "
     r"y.ravel\(\)"),
    ({"x": np.ones((3, 2)), "y": np.eye(3, dtype=np.int64)},
     r"'y' looks one-hot encoded \(shape \(3, 3\), one 1 per row\); .* y.argmax\(axis=1\)"),
    ({"x": np.ones((3, 2)), "y": np.array([0, -1, 2])},
     r"y\[1\] is -1: class labels must be 0 to 999999; renumber the classes from 0"),
    ({"x": np.ones((3, 2)), "y": np.array([0, 10**7, 2])}, r"y\[1\] is 10000000: class labels"),
    ({"x": np.array([[1.0, 2.0], [np.nan, 1.0], [0.0, np.nan]]), "y": np.zeros(3, int)},
     r"x\[1, 0\] is nan \(2 value\(s\) are not finite\); samples must be finite numbers"),
    ({"x": np.array([[1.0, 2.0], [0.0, -1e300], [0.0, 0.0]]), "y": np.zeros(3, int)},
     r"x\[1, 1\] is -1e\+300, too large for float32"),
    ({"x": np.ones((3, 2)), "y": np.array([0.5, np.inf, 1.0])},
     r"y\[1\] is inf \(1 value\(s\) are not finite\); targets must be finite"),
])
def test_bad_npz_arrays_are_refused_at_build(arrays: dict, match: str, tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetFormatError, match=f"d.npz: {match}"):
        NPZDataset(path)


def test_an_npz_header_declaring_a_huge_array_is_refused_before_allocating(
        tmp_path: Path) -> None:
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (1 << 20, 1 << 20)})
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", header.getvalue() + b"\0" * 80)
        z.writestr("y.npy", b"")
    with pytest.raises(DatasetFormatError, match=r"bomb.npz: array 'x' declares shape "
                                                 r"\(1048576, 1048576\) of float64"):
        NPZDataset(path)


# ----------------------------------------------------------------------------- ImageFolder
def _png(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (its pixel data is empty): what Pillow reads
    before it decodes anything."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [10_000, 100_000])  # past Pillow's warning, past its error
def test_a_decompression_bomb_is_named(side: int, tmp_path: Path, image_folder) -> None:  # noqa: ANN001
    root = image_folder(tmp_path / "imgs", per_class=1)
    (root / "cat" / "bomb.png").write_bytes(_png(side, side))
    with pytest.raises(DatasetFormatError, match=r"cat.bomb.png: .*decompression bomb.*; shrink "
                                                 r"the image or remove it from the folder"):
        ImageFolder(root)  # (the size check reads every header)
    ds = ImageFolder(root, size=8)
    with pytest.raises(DatasetFormatError, match=r"cat.bomb.png: .*decompression bomb"):
        ds[ds.samples.index((str(root / "cat" / "bomb.png"), 0))]


def test_mixed_channels_without_a_mode_name_both_files(tmp_path: Path, image_folder) -> None:  # noqa: ANN001
    from PIL import Image

    root = image_folder(tmp_path / "imgs", per_class=1, size=(10, 12))
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(root / "dog" / "grey.png")
    with pytest.raises(DatasetFormatError, match=r"dog.grey.png is 10 x 12 \(h x w\) with 1 "
                                                 r"channel\(s\) but .*cat.0.png is 10 x 12 \(h x "
                                                 r"w\) with 3 channel\(s\); .* pass mode='RGB'"):
        ImageFolder(root, mode=None)
    assert len(ImageFolder(root)) == 3  # converted to RGB: they stack


def test_symlink_loops_are_walked_once(tmp_path: Path, image_folder) -> None:  # noqa: ANN001
    root = image_folder(tmp_path / "imgs", per_class=2)
    for name in ("again", "and_again"):
        os.symlink(".", root / "cat" / name)  # each leads back to cat/: loops for ever
    os.symlink("../dog", root / "cat" / "to_dog")
    os.symlink("missing", root / "dog" / "dangling")
    os.mkfifo(root / "dog" / "pipe.png")  # never opened: it would wait for a writer
    start = time.monotonic()
    ds = ImageFolder(root)
    assert time.monotonic() - start < 5
    assert [Path(p).relative_to(root).as_posix() for p, _ in ds.samples] == [
        "cat/0.png", "cat/1.png", "cat/to_dog/0.png", "cat/to_dog/1.png", "dog/0.png",
        "dog/1.png"]


# ----------------------------------------------------------------------------- IDX, CIFAR
def test_an_idx_header_past_the_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 1 << 16, 1 << 16, 1 << 16)
    path.write_bytes(gzip.compress(header))
    with pytest.raises(DatasetFormatError, match=rf"train-images-idx3-ubyte.gz: the header "
                                                 rf"declares 65536x65536x65536 values "
                                                 rf"\(281474976710656 bytes\), more than an IDX "
                                                 rf"dataset file may hold \({MAX_IDX_BYTES}"):
        read_idx(path)


def test_an_idx_gzip_bomb_is_read_only_as_far_as_its_header_says(tmp_path: Path) -> None:
    path = tmp_path / "labels.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:  # 3 labels, then 200 MB of zeros
        f.write(idx_bytes(np.arange(3, dtype=np.uint8)))
        zeros = bytes(1 << 20)
        for _ in range(200):
            f.write(zeros)
    assert path.stat().st_size < 1 << 20
    start = time.monotonic()
    with pytest.raises(DatasetFormatError, match=r"labels.gz: corrupt: more data after the 3 "
                                                 r"values the header describes"):
        read_idx(path)
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("labels", [["a", "b"], [0.5, 1.0], [2**70, 0], {"a": 1}])
def test_cifar_labels_that_are_not_class_indices(labels: object, tmp_path: Path) -> None:
    path = tmp_path / "data_batch_1"
    write_cifar_batch(path, 2, seed=0)
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    entry["labels"] = labels
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=2)
    with pytest.raises(DatasetFormatError, match=r"data_batch_1: 'labels' should be a list of "
                                                 r"class indices"):
        load_cifar_batch(path)


# ----------------------------------------------------------------------------- properties
FIELDS = (st.sampled_from(["0", "1", "2", "-1", "1e30", "nan", "inf", "0.5", "", " ", "x",
                           "cat", '"', "a,b", "1\n2", "\ufeff1"])
          | st.integers(-5, 5).map(str) | st.floats(allow_nan=True).map(repr)
          | st.text(max_size=6))


@bounded
@given(rows=st.lists(st.lists(FIELDS, min_size=1, max_size=4), min_size=1, max_size=6),
       raw=st.booleans(), task=st.sampled_from(["auto", "classification", "regression"]),
       tail=st.binary(max_size=8))
def test_any_csv_file_loads_or_raises_a_located_error(rows: list[list[str]], raw: bool,
                                                      task: str, tail: bytes,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    if raw:  # written as text joined by commas: quotes and newlines left as they are
        path.write_bytes("\n".join(",".join(r) for r in rows).encode() + tail)
    else:
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
    ds = loads_or_refuses(path, lambda p: CSVDataset(p, task=task), DatasetFormatError)
    if ds is not None:
        assert ds.data.dtype == np.float32 and np.isfinite(ds.data).all()
        y = ds.targets
        assert (y.dtype == np.int64 and ((0 <= y) & (y < MAX_CLASSES)).all()) or (
            y.dtype == np.float32 and np.isfinite(y).all())


# ----------------------------------------------------------------------------- NPZ dataset
ARRAY_DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.uint8, np.bool_,
                                np.complex64, "U2", object])


@st.composite
def arrays(draw: Any, n: int) -> np.ndarray:
    shape = (n, *draw(st.lists(st.integers(1, 3), max_size=2)))
    dtype = draw(ARRAY_DTYPES)
    values = np.asarray(draw(st.lists(st.sampled_from([0, 1, 2, -1, 0.5, 1e30]),
                                      min_size=math.prod(shape), max_size=math.prod(shape))))
    with np.errstate(invalid="ignore", over="ignore"):  # 1e30 as int8: whatever it gives
        arr = values.reshape(shape).astype(dtype)
    if arr.dtype.kind == "f" and arr.size and draw(st.booleans()):
        arr.flat[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    return arr


@bounded
@given(data=st.data())
def test_any_npz_dataset_loads_or_raises_a_located_error(data: Any, tmp_path: Path) -> None:
    n = data.draw(st.integers(0, 4), "n")
    x = data.draw(arrays(n), "x")
    y = data.draw(arrays(data.draw(st.sampled_from([n, n + 1]), "ny")), "y")
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    ds = loads_or_refuses(path, NPZDataset, DatasetFormatError)
    if ds is not None:
        assert ds.data.dtype.kind in "biuf" and ds.targets.dtype.kind in "biuf"
        if ds.data.dtype.kind == "f":
            assert np.isfinite(ds.data).all()
