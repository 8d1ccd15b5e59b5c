"""Acceptance: the seed network trains, and a small MLP separates two interleaved spirals, with
the engine's nn modules, cross-entropy and SGD with momentum, as a PyTorch user would write it."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import nn


def seed_network() -> nn.Module:
    """The network a new LayerForge project starts with."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def test_seed_network_trains_on_a_784_dim_problem() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 1, (10, 784)).astype(np.float32)
    y = rng.integers(0, 10, 640)
    x = (centers[y] + rng.normal(0, 2.0, (640, 784))).astype(np.float32).reshape(640, 1, 28, 28)
    engine.manual_seed(0)
    model = seed_network()
    assert [k for k in model.state_dict()] == ["1.weight", "1.bias", "3.weight", "3.bias"]
    assert model.state_dict()["1.weight"].shape == (128, 784)
    loss_fn = nn.CrossEntropyLoss()
    opt = engine.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = []
    for _epoch in range(3):
        for i in range(0, 640, 64):
            xb, yb = engine.from_numpy(x[i:i + 64]), engine.from_numpy(y[i:i + 64])
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert losses[0] > 1.5  # about log(10) at the start
    assert np.mean(losses[-5:]) < 0.25 * losses[0], f"loss fell only to {losses[-5:]}"
    with engine.no_grad():
        accuracy = (model(engine.from_numpy(x)).argmax(1).numpy() == y).mean()
    assert accuracy > 0.95


def spirals(n: int, rng: np.random.Generator, noise: float = 0.02) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Two interleaved spirals of ``n`` points each (one turned 180 degrees), 1.5 turns long."""
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], 1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, noise, (2 * n, 2))
    y = np.concatenate([np.zeros(n), np.ones(n)]).astype(np.int64)
    return x.astype(np.float32), y


@pytest.mark.slow
def test_mlp_separates_two_spirals() -> None:
    rng = np.random.default_rng(0)
    x_train, y_train = spirals(1000, rng)
    x_test, y_test = spirals(500, rng)
    engine.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 2))
    loss_fn = nn.CrossEntropyLoss()
    opt = engine.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def test_accuracy() -> float:
        model.eval()
        with engine.no_grad():
            pred = model(engine.from_numpy(x_test)).argmax(1).numpy()
        model.train()
        return float((pred == y_test).mean())

    before = test_accuracy()
    accuracy, epochs = before, 0
    while accuracy < 0.97 and epochs < 250:
        order = rng.permutation(len(x_train))
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss_fn(model(engine.from_numpy(x_train[idx])),
                    engine.from_numpy(y_train[idx])).backward()
            opt.step()
        epochs += 1
        if epochs % 10 == 0:
            accuracy = test_accuracy()
    assert before < 0.75  # spirals are not linearly separable: training did the work
    assert accuracy >= 0.97, f"test accuracy {accuracy:.3f} after {epochs} epochs"
