"""Weights files (safetensors, npz), PyTorch interchange both ways, and clear mismatch errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from export_helpers import engine_model, load_generated, rel_err, run_engine, sample, state_of
from torch_reference import torch_or_skip

import engine
from engine.export import WeightsError, load_weights, read_weights, save_weights
from engine.graph import Graph, compile


def lenet_like() -> Graph:
    return Graph.sequential((1, 12, 12), ("Conv2d", {"out_channels": 4, "kernel_size": 3}),
                            "BatchNorm2d", "ReLU", "MaxPool2d", "Flatten",
                            ("Linear", {"out_features": 5}))


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_round_trip_keeps_names_shapes_and_dtypes(suffix: str, tmp_path: Path) -> None:
    model = engine_model(lenet_like())
    state = state_of(model)
    path = save_weights(model.state_dict(), tmp_path / f"w{suffix}")
    back = read_weights(path)
    assert list(back) == list(state) or set(back) == set(state)
    for k, v in state.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)
    assert back["bn1.num_batches_tracked"].dtype == np.int64
    other = compile(lenet_like(), seed=5)
    load_weights(other, path)
    x = sample(model, lenet_like())
    np.testing.assert_array_equal(run_engine(other.eval(), x), run_engine(model, x))
    assert [p.name for p in tmp_path.iterdir()] == [f"w{suffix}"]  # no temporary files left


def test_pytorch_loads_the_exported_safetensors_strictly(tmp_path: Path) -> None:
    torch = torch_or_skip()
    from safetensors.torch import load_file

    graph = lenet_like()
    model = engine_model(graph)
    module = load_generated(graph, state_of(model), tmp_path)
    net = module.Model()
    result = net.load_state_dict(load_file(str(tmp_path / "weights.safetensors")), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    x = sample(model, graph)
    with torch.no_grad():
        y = net.eval()(torch.from_numpy(x)).numpy()
    assert rel_err(y, run_engine(model, x)) < 1e-5


def test_import_weights_trained_by_pytorch(tmp_path: Path) -> None:
    torch = torch_or_skip()
    from safetensors.torch import save_file

    graph = lenet_like()
    module = load_generated(graph, state_of(compile(graph)), tmp_path)
    torch.manual_seed(0)
    net = module.Model()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):  # a few PyTorch training steps move weights and BN statistics
        loss = net(torch.randn(8, 1, 12, 12)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    save_file(net.state_dict(), str(tmp_path / "torch.safetensors"))
    np.savez(tmp_path / "torch.npz", **{k: v.numpy() for k, v in net.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 1, 12, 12)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    for name in ("torch.safetensors", "torch.npz"):
        model = load_weights(compile(graph), tmp_path / name).eval()
        assert rel_err(run_engine(model, x), expected) < 1e-5
        assert int(model.bn1.num_batches_tracked.item()) == 3


def test_mismatches_are_listed(tmp_path: Path) -> None:
    model = compile(lenet_like())
    state = state_of(model)
    state["fc1.weight"] = np.zeros((5, 99), np.float32)
    del state["conv1.bias"]
    state["head.weight"] = np.zeros(3, np.float32)
    save_weights(state, tmp_path / "bad.safetensors")
    with pytest.raises(WeightsError) as info:
        load_weights(model, tmp_path / "bad.safetensors")
    message = str(info.value)
    assert "bad.safetensors do not match the graph" in message
    assert "wrong shape: fc1.weight (5, 99) (the graph needs (5, 100))" in message
    assert "missing: conv1.bias" in message and "unexpected: head.weight" in message
    prefixed = {f"module.{k}": v for k, v in state_of(model).items()}
    with pytest.raises(WeightsError, match="save model.module.state_dict"):
        load_weights(model, prefixed)


def test_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(WeightsError, match=r"w.safetensors: not a readable safetensors file"):
        read_weights(bad)
    (tmp_path / "w.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(WeightsError, match=r"w.npz: not a readable .npz file"):
        read_weights(tmp_path / "w.npz")
    with pytest.raises(WeightsError, match="no such weights file"):
        read_weights(tmp_path / "missing.npz")
    (tmp_path / "w.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"use .safetensors or .npz"):
        read_weights(tmp_path / "w.pt")


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.safetensors"
    save_weights({"a": engine.ones(2)}, path)
    before = path.read_bytes()

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_weights({"a": engine.zeros(3)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
