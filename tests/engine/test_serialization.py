"""engine.save / engine.load: safetensors files that round-trip state dicts and nested
checkpoints exactly, open in PyTorch, are written atomically, and fail clearly when damaged."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import safetensors.numpy
from torch_reference import torch_or_skip

import engine
import engine.optim as optim
from engine import _atomic, serialization
from engine.errors import FileFormatError, FileWriteError
from engine.nn.parameter import Parameter

DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8,
          np.bool_]


def flat_state_dict() -> dict[str, engine.Tensor]:
    rng = np.random.default_rng(3)
    return {
        "fc1.weight": engine.tensor(rng.standard_normal((4, 3)).astype(np.float32)),
        "fc1.bias": engine.tensor(rng.standard_normal(4).astype(np.float32)),
        "bn.num_batches_tracked": engine.tensor(np.array(7, dtype=np.int64)),
        "fc2.weight": engine.tensor(rng.standard_normal((2, 4)).astype(np.float32)),
    }


def assert_same(a, b) -> None:
    """Equal values and equal structure: same types, keys, key order, dtypes and shapes."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, engine.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.cpu().numpy(), b.cpu().numpy())
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys())
        for k in a:
            assert type(k) is type(next(kk for kk in b if kk == k))
            assert_same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def test_flat_state_dict_round_trips_with_its_keys_order_and_dtypes(tmp_path) -> None:
    sd = flat_state_dict()
    path = tmp_path / "model.safetensors"
    engine.save(sd, path)
    loaded = engine.load(path)
    assert_same(sd, loaded)
    # Stored under exactly the given keys, readable by any safetensors reader.
    assert sorted(safetensors.numpy.load_file(str(path))) == sorted(sd)


@pytest.mark.parametrize("dtype", DTYPES, ids=[np.dtype(d).name for d in DTYPES])
def test_every_dtype_and_shape_round_trips(dtype, tmp_path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "matrix": (rng.standard_normal((3, 5)) * 50).astype(dtype),
        "scalar": np.array(3, dtype=dtype),
        "empty": np.zeros((0, 4), dtype=dtype),
        "strided": (rng.standard_normal((4, 6)) * 50).astype(dtype).T[::2],
    }
    sd = {k: engine.tensor(v) for k, v in arrays.items()}
    engine.save(sd, tmp_path / "d.safetensors")
    assert_same(sd, engine.load(tmp_path / "d.safetensors"))


def test_nested_checkpoint_round_trips_exactly(tmp_path) -> None:
    w = Parameter(engine.randn(3, 2))
    opt = optim.Adam([w], lr=0.01, betas=(0.8, 0.9))
    w.grad = engine.randn(3, 2)
    opt.step()
    ckpt = {
        "model": flat_state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 12,
        "best_accuracy": 0.9375,
        "name": "spirals run ✓",
        "done": False,
        "note": None,
        "history": [1.5, 0.75, float("inf"), float("nan"), -0.0],
        "shape": (28, 28),
        "per_class": {0: 0.5, 1: [1, 2, {"deep": engine.tensor([1, 2, 3])}]},
        "raw": np.arange(6, dtype=np.int32).reshape(2, 3),
        "scalars": [np.float32(0.5), np.int64(3)],
    }
    engine.save(ckpt, tmp_path / "ckpt.safetensors")
    loaded = engine.load(tmp_path / "ckpt.safetensors")
    expected = dict(ckpt, scalars=[0.5, 3])  # NumPy scalars come back as Python numbers
    assert_same(expected, loaded)
    assert list(loaded["optimizer"]["state"]) == [0]  # int keys stay ints
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.9)
    assert math.copysign(1.0, loaded["history"][-1]) == -1.0


def test_bare_tensor_and_list_round_trip(tmp_path) -> None:
    t = engine.arange(5)
    engine.save(t, tmp_path / "t.safetensors")
    assert_same(t, engine.load(tmp_path / "t.safetensors"))
    items = [engine.ones(2), engine.zeros(1, dtype=engine.int64)]
    engine.save(items, tmp_path / "l.safetensors")
    assert_same(items, engine.load(tmp_path / "l.safetensors"))


def test_colliding_dotted_paths_are_kept_apart(tmp_path) -> None:
    obj = {"a.b": engine.tensor([1.0]), "a": {"b": engine.tensor([2.0])}}
    engine.save(obj, tmp_path / "c.safetensors")
    assert_same(obj, engine.load(tmp_path / "c.safetensors"))


def test_pytorch_reads_a_saved_state_dict_and_engine_reads_pytorchs(tmp_path) -> None:
    torch = torch_or_skip()
    st_torch = pytest.importorskip("safetensors.torch")
    sd = flat_state_dict()
    engine.save(sd, tmp_path / "ours.safetensors")
    theirs = st_torch.load_file(str(tmp_path / "ours.safetensors"))
    assert set(theirs) == set(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(theirs[k].numpy(), v.numpy())
        assert theirs[k].dtype == getattr(torch, v.dtype.name)

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    st_torch.save_file(model.state_dict(), str(tmp_path / "torch.safetensors"))
    loaded = engine.load(tmp_path / "torch.safetensors")
    assert set(loaded) == set(model.state_dict())
    for k, v in model.state_dict().items():
        assert isinstance(loaded[k], engine.Tensor)
        np.testing.assert_array_equal(loaded[k].numpy(), v.numpy())


def test_map_location_places_tensors(tmp_path, device: str) -> None:
    sd = {k: v.to(device) for k, v in flat_state_dict().items()}
    engine.save(sd, tmp_path / "m.safetensors")  # GPU tensors are copied to the host
    loaded = engine.load(tmp_path / "m.safetensors", map_location=device)
    for k, v in loaded.items():
        assert str(v.device) == device
        np.testing.assert_array_equal(v.cpu().numpy(), sd[k].cpu().numpy())
    on_cpu = engine.load(tmp_path / "m.safetensors")
    assert all(str(v.device) == "cpu" for v in on_cpu.values())
    with pytest.raises(TypeError, match="map_location must be None, a device string"):
        engine.load(tmp_path / "m.safetensors", map_location=3)


def test_save_overwrites_and_keeps_the_old_files_permissions(tmp_path) -> None:
    path = tmp_path / "m.safetensors"
    engine.save({"x": engine.zeros(2)}, path)
    os.chmod(path, 0o640)
    engine.save({"x": engine.ones(3)}, path)
    assert_same({"x": engine.ones(3)}, engine.load(path))
    assert (os.stat(path).st_mode & 0o777) == 0o640
    assert os.listdir(tmp_path) == ["m.safetensors"]


@pytest.mark.parametrize("where", ["writing", "fsync", "rename"])
def test_failed_write_leaves_the_old_file_and_no_temp_file(where: str, tmp_path,
                                                           monkeypatch) -> None:
    path = tmp_path / "ckpt.safetensors"
    old = {"w": engine.tensor([1.0, 2.0])}
    engine.save(old, path)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        if where == "writing":  # half a file written, then the disk fills up
            os.write(args[0], b"\x00" * 10)
        raise OSError(28, "No space left on device")

    target = {"writing": (_atomic, "_write_all"), "fsync": (os, "fsync"),
              "rename": (os, "replace")}[where]
    monkeypatch.setattr(*target, fail)
    with pytest.raises(FileWriteError, match="No space left on device") as info:
        engine.save({"w": engine.zeros(1000)}, path)
    monkeypatch.undo()
    assert info.value.errno == 28 and str(path) in str(info.value)
    assert "the previous file is unchanged" in str(info.value)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    assert_same(old, engine.load(path))


def test_interrupt_during_write_also_cleans_up(tmp_path, monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_atomic, "_write_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine.save({"w": engine.zeros(3)}, tmp_path / "x.safetensors")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("damage", ["truncated", "header_only", "empty", "garbage", "pickle"])
def test_damaged_files_raise_a_clear_error(damage: str, tmp_path) -> None:
    path = tmp_path / "bad.safetensors"
    engine.save(flat_state_dict(), path)
    data = path.read_bytes()
    path.write_bytes({
        "truncated": data[:-7],
        "header_only": data[:20],
        "empty": b"",
        "garbage": b"this is not a tensor file at all" * 4,
        "pickle": b"\x80\x04\x95" + b"\x00" * 64,
    }[damage])
    with pytest.raises(ValueError, match="bad.safetensors: not a readable safetensors file"):
        engine.load(path)


def test_edited_structure_metadata_raises(tmp_path) -> None:
    path = tmp_path / "e.safetensors"
    safetensors.numpy.save_file({"a": np.zeros(2)}, str(path),
                                metadata={serialization.TREE_KEY: '{"$d": [["a", {"$t": "b"}]]}'})
    with pytest.raises(ValueError, match="refers to tensor 'b', which the file does not hold"):
        engine.load(path)
    safetensors.numpy.save_file({"a": np.zeros(2)}, str(path),
                                metadata={serialization.TREE_KEY: "{not json"})
    with pytest.raises(ValueError, match="structure stored in .* is corrupt"):
        engine.load(path)


def test_missing_paths(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="engine.load: no such file: .*nothing.safetensors"):
        engine.load(tmp_path / "nothing.safetensors")
    with pytest.raises(FileNotFoundError, match="the folder .* does not exist; create it first"):
        engine.save({"a": engine.zeros(1)}, tmp_path / "no" / "such" / "x.safetensors")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        engine.load(tmp_path)
    os.mkfifo(tmp_path / "pipe.safetensors")
    with pytest.raises(FileFormatError, match="is not a regular file \\(a pipe or a device\\)"):
        engine.load(tmp_path / "pipe.safetensors")  # refused, not waited on


def test_unsupported_objects_are_refused_with_their_path(tmp_path) -> None:
    path = tmp_path / "u.safetensors"
    with pytest.raises(TypeError, match=r"can't save an object of type builtins.set at "
                                        r"'extra.tags'"):
        engine.save({"extra": {"tags": {1, 2}}}, path)
    with pytest.raises(TypeError, match=r"dict key \(1, 2\) at 'pairs' is a tuple"):
        engine.save({"pairs": {(1, 2): 3}}, path)

    class Model:
        def state_dict(self) -> dict:
            return {}

    with pytest.raises(TypeError, match="save its state_dict\\(\\) instead"):
        engine.save(Model(), path)
    with pytest.raises(TypeError, match="arrays of Python objects can't be saved"):
        engine.save({"o": np.array([object()])}, path)
    assert not path.exists() and os.listdir(tmp_path) == []
