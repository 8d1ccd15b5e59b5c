"""Built-in datasets: Digits (shipped), synthetic sets, CSV/NPZ tables, ImageFolder, stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import engine
from engine.data import DataLoader, DatasetFormatError, DatasetNotFoundError, random_split
from engine.data import transforms as T
from engine.data.datasets import (
    XOR,
    Blobs,
    Circles,
    CSVDataset,
    Digits,
    ImageFolder,
    Moons,
    NPZDataset,
    SequenceTask,
    Spirals,
    channel_stats,
    resources_dir,
)


def test_digits_ships_with_the_repository() -> None:
    assert (resources_dir() / "datasets" / "digits.npz").is_file()
    assert resources_dir().parent == Path(engine.__file__).resolve().parents[1]
    ds = Digits()
    assert len(ds) == 1797 and ds.data.shape == (1797, 8, 8) and ds.data.dtype == np.uint8
    assert ds.data.max() == 255 and ds.data.min() == 0
    assert np.bincount(ds.targets).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797
    both = {x.tobytes() + bytes([y]) for x, y in zip(train.data, train.targets)}
    assert not any(x.tobytes() + bytes([y]) in both for x, y in zip(test.data, test.targets))
    assert np.array_equal(Digits(train=True).targets, train.targets)  # a fixed split


def test_digits_matches_scikit_learn_copy() -> None:
    sklearn = pytest.importorskip("sklearn.datasets")
    ref = sklearn.load_digits()
    ds = Digits()
    np.testing.assert_array_equal(ds.targets, ref.target)
    np.testing.assert_array_equal(ds.data, np.round(ref.images * 255 / 16 + 1e-9).astype(np.uint8))


def test_digits_at_mnist_size_feeds_an_mnist_pipeline() -> None:
    tf = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    ds = Digits(size=28, transform=tf)
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and 0 <= y < 10
    xb, yb = next(iter(DataLoader(ds, batch_size=64, shuffle=True)))
    assert xb.shape == (64, 1, 28, 28) and xb.dtype == engine.float32 and yb.dtype == engine.int64
    assert float(xb.min().item()) >= -1.0 and float(xb.max().item()) <= 1.0
    with pytest.raises(ValueError, match="size must be a positive int"):
        Digits(size=0)


def test_missing_resources_say_where(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAYERFORGE_RESOURCES", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match=r"datasets/digits.npz.* is missing"):
        Digits()


@pytest.mark.parametrize("cls", [Spirals, Moons, Circles, Blobs, XOR])
def test_point_sets_are_seeded_balanced_and_sized(cls: type) -> None:
    a, b, c = cls(n_samples=301, seed=1), cls(n_samples=301, seed=1), cls(n_samples=301, seed=2)
    assert len(a) == 301 and a.data.shape == (301, 2)
    assert a.data.dtype == np.float32 and a.targets.dtype == np.int64
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data)
    counts = np.bincount(a.targets)
    if cls is not XOR:
        assert counts.max() - counts.min() <= 1
    x, y = a[0]
    assert isinstance(x, engine.Tensor) and x.shape == (2,) and isinstance(y, int)
    xb, yb = next(iter(DataLoader(a, batch_size=32)))
    assert xb.shape == (32, 2) and yb.dtype == engine.int64


def test_point_set_geometry() -> None:
    circles = Circles(n_samples=400, noise=0.0, factor=0.3)
    radius = np.linalg.norm(circles.data, axis=1)
    np.testing.assert_allclose(radius[circles.targets == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(radius[circles.targets == 1], 0.3, atol=1e-6)
    xor = XOR(n_samples=200)
    assert np.all(xor.targets == ((xor.data[:, 0] > 0) ^ (xor.data[:, 1] > 0)))
    spirals = Spirals(n_samples=300, n_classes=3, noise=0.0)
    assert spirals.num_classes == 3 and np.abs(spirals.data).max() <= 1.0 + 1e-6
    blobs = Blobs(n_samples=300, centers=[[0, 0], [10, 10]], cluster_std=0.5)
    for k in range(2):
        np.testing.assert_allclose(blobs.data[blobs.targets == k].mean(0), blobs.centers[k],
                                   atol=0.2)
    with pytest.raises(ValueError, match="n_samples must be a positive int"):
        Moons(n_samples=0)


def test_sequence_tasks() -> None:
    parity = SequenceTask("parity", n_samples=64, seq_len=12)
    x, y = parity[3]
    assert x.shape == (12, 1) and y == int(x.numpy().sum()) % 2
    assert parity.num_classes == 2 and parity.input_size == 1
    adding = SequenceTask("adding", n_samples=64, seq_len=10)
    x, y = adding[5]
    xs = x.numpy()
    assert xs.shape == (10, 2) and xs[:, 1].sum() == 2
    assert xs[:5, 1].sum() == 1  # one mark in each half
    np.testing.assert_allclose(float(y), (xs[:, 0] * xs[:, 1]).sum(), rtol=1e-6)
    xb, yb = next(iter(DataLoader(adding, batch_size=16)))
    assert xb.shape == (16, 10, 2) and yb.dtype == engine.float32 and adding.num_classes is None
    with pytest.raises(ValueError, match="unknown task 'copy'"):
        SequenceTask("copy")


def test_csv_with_header_and_text_labels(tmp_path: Path) -> None:
    path = tmp_path / "iris.csv"
    path.write_text("sepal,petal,species\n1.0,2.0,setosa\n3,4.5,virginica\n5,6,setosa\n")
    ds = CSVDataset(path, label_column="species")
    assert ds.feature_names == ["sepal", "petal"] and ds.classes == ["setosa", "virginica"]
    x, y = ds[1]
    np.testing.assert_array_equal(x.numpy(), [3.0, 4.5])
    assert y == 1 and x.dtype == engine.float32
    xb, yb = next(iter(DataLoader(ds, batch_size=3)))
    assert yb.numpy().tolist() == [0, 1, 0]
    fixed = CSVDataset(path, label_column=2, classes=["virginica", "setosa"])
    assert fixed.targets.tolist() == [1, 0, 1]


def test_csv_without_header_and_regression(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("1,2,0\n3,4,1\n5,6,1\n")
    ds = CSVDataset(path)
    assert len(ds) == 3 and ds.targets.tolist() == [0, 1, 1] and ds.classes is None
    reg = tmp_path / "r.csv"
    reg.write_text("x;y\n1;0.5\n2;1.5\n")
    rd = CSVDataset(reg, label_column="y", delimiter=";")
    assert rd.targets.dtype == np.float32 and rd.targets.tolist() == [0.5, 1.5]
    unlabelled = CSVDataset(path, label_column=None)
    assert unlabelled[0].shape == (3,)


def test_csv_errors_name_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,x\n3,oops,y\n")
    with pytest.raises(DatasetFormatError, match=r"row 3, column 'b' \(column 2\): 'oops' is "
                                                 r"not a number"):
        CSVDataset(path, label_column="label")
    path.write_text("a,b,label\n1,2,x\n3,,y\n")
    with pytest.raises(DatasetFormatError, match=r"row 3, column 'b' \(column 2\): is empty"):
        CSVDataset(path, label_column="label")
    path.write_text("a,b,label\n1,2,x\n3,4\n")
    with pytest.raises(DatasetFormatError, match="row 3 has 2 fields but the header has 3"):
        CSVDataset(path, label_column="label")
    path.write_text("a,b,label\n1,2,x\n")
    with pytest.raises(ValueError, match=r"no column 'target'; the columns are \['a', 'b', "
                                         r"'label'\]"):
        CSVDataset(path, label_column="target")
    with pytest.raises(DatasetNotFoundError, match="not found"):
        CSVDataset(tmp_path / "nope.csv")


def test_npz_dataset(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(12, dtype=np.float64).reshape(6, 2), y=np.arange(6, dtype=np.int32))
    ds = NPZDataset(path)
    assert ds.data.dtype == np.float32 and ds.targets.dtype == np.int64
    xb, yb = next(iter(DataLoader(ds, batch_size=4, shuffle=True)))
    assert xb.shape == (4, 2) and yb.dtype == engine.int64
    with pytest.raises(DatasetFormatError, match=r"no array named 'labels'; it holds \['x', 'y'\]"):
        NPZDataset(path, y_key="labels")
    np.savez(path, x=np.zeros((3, 2)), y=np.zeros(4))
    with pytest.raises(DatasetFormatError, match="'x' has 3 samples but 'y' has 4"):
        NPZDataset(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(DatasetFormatError, match="not a readable .npz file"):
        NPZDataset(path)


def _image_tree(root: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, n in (("cat", 3), ("dog", 2)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            arr = rng.integers(0, 256, (10 + i, 12, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / cls / f"{i}.{'png' if i % 2 else 'jpg'}")
    (root / "dog" / "notes.txt").write_text("not an image")


def test_image_folder(tmp_path: Path) -> None:
    _image_tree(tmp_path)
    ds = ImageFolder(tmp_path, size=8, mode="L", transform=T.ToTensor())
    assert ds.classes == ["cat", "dog"] and len(ds) == 5
    assert [t for _, t in ds.samples] == [0, 0, 0, 1, 1]
    x, y = ds[4]
    assert x.shape == (1, 8, 8) and y == 1
    xb, yb = next(iter(DataLoader(ds, batch_size=5, num_workers=1)))
    assert xb.shape == (5, 1, 8, 8)
    rgb = ImageFolder(tmp_path, size=(6, 7), preload=True, transform=T.ToTensor())
    assert rgb.get_batch([0, 1])[0].shape == (2, 3, 6, 7)
    np.testing.assert_array_equal(rgb[2][0].numpy(), ImageFolder(
        tmp_path, size=(6, 7), transform=T.ToTensor())[2][0].numpy())


def test_image_folder_errors(tmp_path: Path) -> None:
    _image_tree(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="Found no valid file for the classes empty"):
        ImageFolder(tmp_path)
    (tmp_path / "empty" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DatasetFormatError, match=r"ImageFolder: .*cat.1.png is 11 x 12 \(h x w\) "
                                                 r"but .*cat.0.jpg is 10 x 12 \(h x w\); images "
                                                 r"that differ cannot form a batch: pass size="):
        ImageFolder(tmp_path)
    ds = ImageFolder(tmp_path, size=8)
    with pytest.raises(DatasetFormatError, match="broken.png: cannot read the image"):
        ds[ds.samples.index((str(tmp_path / "empty" / "broken.png"), ds.class_to_idx["empty"]))]
    with pytest.raises(DatasetNotFoundError, match="is not a folder"):
        ImageFolder(tmp_path / "nowhere")


def test_image_folder_without_size_takes_a_transform_that_equalises_sizes(
        tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, (h, w) in (("cat", (10, 12)), ("dog", (17, 9))):  # two sizes, real PNG files
        (tmp_path / cls).mkdir()
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            tmp_path / cls / "0.png")
    with pytest.raises(DatasetFormatError, match="cannot form a batch"):
        ImageFolder(tmp_path)  # without a transform the sizes are checked at once
    ds = ImageFolder(tmp_path, transform=T.Compose([T.Resize((8, 6)), T.ToTensor()]))
    assert len(ds) == 2 and [ds[i][0].shape for i in range(2)] == [(3, 8, 6)] * 2
    xb, yb = next(iter(DataLoader(ds, batch_size=2)))
    assert xb.shape == (2, 3, 8, 6) and yb.tolist() == [0, 1]


def test_channel_stats_match_numpy() -> None:
    ds = Digits(size=28, transform=T.Compose([T.ToTensor(), T.Normalize((0.3,), (0.3,))]))
    mean, std, count = channel_stats(ds, batch_size=500)  # chunks merge exactly
    scaled = ds.data / 255.0
    assert count == 1797
    np.testing.assert_allclose(mean, [scaled.mean()], rtol=1e-10)
    np.testing.assert_allclose(std, [scaled.std()], rtol=1e-10)
    rgb = np.random.default_rng(0).integers(0, 256, (40, 5, 6, 3), dtype=np.uint8)
    mean, std, _ = channel_stats(rgb, batch_size=7)
    np.testing.assert_allclose(mean, (rgb / 255.0).mean(axis=(0, 1, 2)), rtol=1e-10)
    np.testing.assert_allclose(std, (rgb / 255.0).std(axis=(0, 1, 2)), rtol=1e-10)
    # A dataset without a data array is read sample by sample, through its transform.
    sub = random_split(Digits(transform=T.ToTensor()), [0.5, 0.5])[0]
    m, s, n = channel_stats(sub)
    ref = np.stack([sub[i][0].numpy() for i in range(len(sub))]).astype(np.float64)
    assert n == len(sub)
    np.testing.assert_allclose(m, [ref.mean()], rtol=1e-8)
    np.testing.assert_allclose(s, [ref.std()], rtol=1e-8)
