"""DataLoader in the main process, default_collate, datasets' building blocks, the fast path."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
from engine.data import (
    ArrayDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    default_collate,
    default_convert,
)
from engine.data import transforms as T

Point = collections.namedtuple("Point", ["x", "y"])


def _torch_collate():
    torch = torch_or_skip()
    return torch, torch.utils.data.default_collate


def _same(ours: object, ref: object) -> None:
    """Recursively: engine tensors equal torch tensors in values and dtype; same structure."""
    torch = torch_or_skip()

    if isinstance(ref, torch.Tensor):
        assert isinstance(ours, engine.Tensor)
        assert str(ours.dtype) == str(ref.dtype).replace("torch.", "engine.")
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    elif isinstance(ref, dict):
        assert type(ours) is type(ref) and ours.keys() == ref.keys()
        for k in ref:
            _same(ours[k], ref[k])
    elif isinstance(ref, list | tuple):
        assert type(ours) is type(ref) and len(ours) == len(ref)
        for a, b in zip(ours, ref):
            _same(a, b)
    else:
        assert ours == ref


@pytest.mark.parametrize("batch", [
    [1, 2, 3],
    [1.5, 2.5],
    [True, False],
    [np.float32(1), np.float32(2)],
    [np.arange(3, dtype=np.uint8), np.arange(3, dtype=np.uint8)],
    [(np.zeros(2, np.float32), 1), (np.ones(2, np.float32), 0)],
    [{"a": 1, "b": np.zeros(2)}, {"a": 2, "b": np.ones(2)}],
    [Point(1, 2.0), Point(3, 4.0)],
    [["a", 1], ["b", 2]],
    ["x", "y"],
])
def test_default_collate_matches_torch(batch: list) -> None:
    torch, ref_collate = _torch_collate()
    _same(default_collate(batch), ref_collate(batch))


def test_default_collate_stacks_engine_tensors_and_reports_sizes() -> None:
    out = default_collate([engine.ones(2, 3), engine.zeros(2, 3)])
    assert out.shape == (2, 2, 3) and out.dtype == engine.float32
    with pytest.raises(RuntimeError, match=r"equal size, but got \[3\] at entry 0 and \[4\] at "
                                           r"entry 1"):
        default_collate([engine.ones(3), engine.ones(4)])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="found <class 'NoneType'>"):
        default_collate([None, None])


def test_default_convert_matches_torch() -> None:
    torch = torch_or_skip()
    data = {"x": np.arange(3), "y": (np.ones(2), "s"), "z": 5}
    _same(default_convert(data), torch.utils.data.default_convert(data))


class Plain(Dataset):
    """Per-sample access only (no get_batch): the slow path."""

    def __init__(self, inner: Dataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int):
        return self.inner[i]


@pytest.mark.parametrize("n,bs,drop", [(10, 3, False), (10, 3, True), (9, 3, False),
                                       (2, 5, False), (2, 5, True)])
def test_len_and_every_sample_once(n: int, bs: int, drop: bool) -> None:
    ds = TensorDataset(engine.arange(n))
    loader = DataLoader(ds, batch_size=bs, shuffle=True, drop_last=drop)
    batches = list(loader)
    assert len(loader) == len(batches) == (n // bs if drop else -(-n // bs))
    seen = [int(v) for (b,) in batches for v in b.numpy()]
    assert len(seen) == len(set(seen))
    assert len(seen) == (n - n % bs if drop else n)


def _images(n: int = 50, shape: tuple = (6, 5)) -> ArrayDataset:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, 10, n)


@pytest.mark.parametrize("shape", [(6, 5), (6, 5, 3)])
def test_fast_path_equals_per_sample_path(shape: tuple) -> None:
    x, y = _images(shape=shape)
    channels = 1 if len(shape) == 2 else 3
    tf = T.Compose([T.CenterCrop(4), T.ToTensor(),
                    T.Normalize([0.4] * channels, [0.3] * channels)])
    ds = ArrayDataset(x, y, transform=tf)
    assert ds.get_batch([0, 1]) is not None
    engine.manual_seed(1)
    fast = list(DataLoader(ds, batch_size=8, shuffle=True))
    engine.manual_seed(1)
    slow = list(DataLoader(Plain(ds), batch_size=8, shuffle=True))
    assert len(fast) == len(slow) == 7
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert xf.dtype == xs.dtype == engine.float32 and yf.dtype == ys.dtype == engine.int64
        assert xf.shape == xs.shape == (len(yf), channels, 4, 4)
        np.testing.assert_array_equal(xf.numpy(), xs.numpy())  # bit for bit
        np.testing.assert_array_equal(yf.numpy(), ys.numpy())


def test_fast_path_declines_per_sample_transforms() -> None:
    x, y = _images()
    ds = ArrayDataset(x, y, transform=T.Compose([T.ToTensor(), T.Lambda(lambda t: t * 2)]))
    assert ds.get_batch([0, 1]) is None
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    np.testing.assert_allclose(xb.numpy()[0, 0], x[0] / 255.0 * 2, rtol=1e-6)
    # A user collate_fn also turns the fast path off.
    got = next(iter(DataLoader(ArrayDataset(x, y), batch_size=3, collate_fn=lambda b: b)))
    assert isinstance(got, list) and len(got) == 3 and isinstance(got[0], tuple)


def test_fast_path_without_transform_keeps_dtypes() -> None:
    x, y = _images()
    xb, yb = next(iter(DataLoader(ArrayDataset(x, y), batch_size=4)))
    xs, ys = next(iter(DataLoader(Plain(ArrayDataset(x, y)), batch_size=4)))
    assert xb.dtype == xs.dtype == engine.uint8 and yb.dtype == ys.dtype == engine.int64
    np.testing.assert_array_equal(xb.numpy(), xs.numpy())
    pts = ArrayDataset(np.ones((5, 2), np.float32), np.arange(5, dtype=np.float32))
    xb, yb = next(iter(DataLoader(pts, batch_size=5)))
    xs, ys = next(iter(DataLoader(Plain(pts), batch_size=5)))
    assert xb.dtype == xs.dtype == engine.float32 and yb.dtype == ys.dtype == engine.float32


def test_subset_keeps_fast_path_and_concat_works() -> None:
    x, y = _images(20)
    ds = ArrayDataset(x, y)
    sub = Subset(ds, [5, 3, 9])
    xb, yb = sub.get_batch([0, 2])
    np.testing.assert_array_equal(xb.numpy(), x[[5, 9]])
    both = ConcatDataset([sub, ds])
    assert len(both) == 23
    np.testing.assert_array_equal(both[3][0], x[0])
    np.testing.assert_array_equal(both[-1][0], x[19])
    assert len(sub + ds) == 23


def test_batch_size_none_and_batch_sampler() -> None:
    ds = TensorDataset(engine.arange(4) * 10)
    items = list(DataLoader(ds, batch_size=None))
    assert len(items) == 4 and items[2][0].shape == () and int(items[2][0].item()) == 20
    loader = DataLoader(ds, batch_sampler=[[3, 0], [1]])
    assert [b[0].numpy().tolist() for b in loader] == [[30, 0], [10]]
    assert len(loader) == 2


class Counting(IterableDataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


def test_iterable_dataset_in_main_process() -> None:
    loader = DataLoader(Counting(7), batch_size=3)
    assert [b.numpy().tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(loader) == 3
    assert len(DataLoader(Counting(7), batch_size=3, drop_last=True)) == 2
    assert [int(v) for v in DataLoader(Counting(3), batch_size=None)] == [0, 1, 2]


def test_invalid_arguments_name_the_conflict() -> None:
    ds = TensorDataset(engine.arange(4))
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Counting(3), shuffle=True)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(engine.arange(3), engine.arange(4))
    with pytest.raises(ValueError, match="data has 3 samples but targets has 2"):
        ArrayDataset(np.zeros((3, 2)), np.zeros(2))


def test_training_step_on_loader_batches() -> None:
    """Batches are ordinary engine tensors: they feed autograd like any other."""
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    ds = TensorDataset(engine.from_numpy(x), engine.from_numpy(x.sum(1)))
    w = engine.zeros(3, requires_grad=True)
    for xb, yb in DataLoader(ds, batch_size=8, shuffle=True):
        loss = ((xb * w).sum(1) - yb).pow(2).mean()
        loss.backward()
    assert w.grad is not None and w.grad.shape == (3,)


def test_tensor_dataset_and_collate_on_device(device: str) -> None:
    """Data already on a GPU stays there: fast-path indexing and per-sample collate alike."""
    x = engine.randn(20, 3)
    y = engine.arange(20)
    ds = TensorDataset(x.to(device), y.to(device))
    engine.manual_seed(4)
    fast = list(DataLoader(ds, batch_size=6, shuffle=True))
    engine.manual_seed(4)
    slow = list(DataLoader(Plain(ds), batch_size=6, shuffle=True))
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert str(xf.device) == str(xs.device) == device
        idx = yf.to("cpu").numpy()
        np.testing.assert_array_equal(xf.to("cpu").numpy(), x.numpy()[idx])
        np.testing.assert_array_equal(xs.to("cpu").numpy(), xf.to("cpu").numpy())
        np.testing.assert_array_equal(ys.to("cpu").numpy(), idx)
