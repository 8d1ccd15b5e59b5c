"""End to end: LeNet-5 learns the built-in Digits and an LSTM learns the adding problem, each to
a stated accuracy on held-out data."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.optim
from engine import nn


def lenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def _digits(train: bool):
    try:
        from engine.data import datasets

        ds = datasets.Digits(train=train, size=28)
    except Exception as exc:  # the data package is optional for the layer tests
        pytest.skip(f"built-in Digits data unavailable: {exc}")
    x = (np.asarray(ds.data, dtype=np.float32) / 255)[:, None]
    return x, np.asarray(ds.targets, dtype=np.int64)


@pytest.mark.slow
def test_lenet_learns_the_builtin_digits(device):
    """LeNet-5 on the built-in 8x8 digits upscaled to 28x28 (1438 train / 359 test images),
    Adam 2e-3, batch 32, 3 epochs: >= 90% test accuracy (typically ~95%)."""
    engine.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = _digits(True)
    x_test, y_test = _digits(False)
    model = lenet().to(device)
    opt = engine.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):
        perm = rng.permutation(len(x))
        for k in range(0, len(x), 32):
            i = perm[k:k + 32]
            opt.zero_grad()
            loss = loss_fn(model(engine.tensor(x[i], device=device)),
                           engine.tensor(y[i], device=device))
            loss.backward()
            opt.step()
    model.eval()
    with engine.no_grad():
        pred = model(engine.tensor(x_test, device=device)).argmax(1).cpu().numpy()
    accuracy = (pred == y_test).mean()
    assert accuracy >= 0.9, f"LeNet-5 reached only {accuracy:.1%} on the Digits test split"


def adding_problem(n: int, steps: int, rng: np.random.Generator):
    """Each step carries (value in [0, 1), marker); the target is the sum of the two marked
    values (Hochreiter & Schmidhuber's adding problem)."""
    values = rng.random((n, steps))
    markers = np.zeros((n, steps))
    for row in markers:
        row[rng.choice(steps, 2, replace=False)] = 1
    x = np.stack([values, markers], -1).astype(np.float32)
    y = (values * markers).sum(1, keepdims=True).astype(np.float32)
    return x, y


class _Adder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(2, 32, batch_first=True)
        self.head = nn.Linear(32, 1)

    def forward(self, x: engine.Tensor) -> engine.Tensor:
        _, (h, _) = self.lstm(x)
        return self.head(h[-1])


@pytest.mark.slow
def test_lstm_learns_the_adding_problem(device):
    """LSTM(2 -> 32), 10 steps, Adam 1e-2, 600 batches of 64: held-out MSE < 0.01 (predicting
    the mean scores ~0.17) and >= 90% of sums within 0.1."""
    engine.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = adding_problem(3000, 10, rng)
    model = _Adder().to(device)
    opt = engine.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.MSELoss()
    for _ in range(600):
        i = rng.integers(0, 2500, 64)
        opt.zero_grad()
        loss = loss_fn(model(engine.tensor(x[i], device=device)),
                       engine.tensor(y[i], device=device))
        loss.backward()
        opt.step()
    with engine.no_grad():
        pred = model(engine.tensor(x[2500:], device=device)).cpu().numpy()
    mse = float(((pred - y[2500:]) ** 2).mean())
    within = float((np.abs(pred - y[2500:]) < 0.1).mean())
    assert mse < 0.01 and within >= 0.9, f"adding problem: MSE {mse:.4f}, {within:.1%} within 0.1"
