"""Small models and batches shared by the DataParallel and DistributedDataParallel tests (also
imported by the MPI scripts under tests/engine/distributed/mpi_scripts)."""

from __future__ import annotations

import numpy as np

import engine
import engine.nn.functional as F
from engine import nn

KINDS = ("mlp", "lenet", "lstm")


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.fc1(x).tanh())


class LeNet(nn.Module):
    """Conv, BatchNorm (the tests keep it in eval mode unless they test BatchNorm), pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.bn1 = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.fc = nn.Linear(24, 3)

    def forward(self, x):
        x = self.pool(self.bn1(self.conv1(x)).relu())
        x = self.conv2(x).relu()
        return self.fc(x.flatten(1))


class LSTMClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, 6, batch_first=True)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def make_model(kind: str, dtype: str = "float64", seed: int = 0) -> nn.Module:
    engine.manual_seed(seed)
    model = {"mlp": MLP, "lenet": LeNet, "lstm": LSTMClassifier}[kind]()
    if kind == "lenet":
        # Non-trivial running statistics, then eval mode: BatchNorm uses them (the issue's
        # "BatchNorm in eval mode" equivalence).
        bn = model.bn1
        bn.running_mean.data[...] = np.linspace(-0.5, 0.5, 4)
        bn.running_var.data[...] = np.linspace(0.5, 2.0, 4)
        model.eval()
    return model.to(dtype=getattr(engine, dtype))


def make_batch(kind: str, n: int, rng: np.random.Generator, dtype: str = "float64"):
    shape = {"mlp": (n, 6), "lenet": (n, 1, 10, 10), "lstm": (n, 5, 4)}[kind]
    x = engine.tensor(rng.standard_normal(shape).astype(dtype))
    y = engine.tensor(rng.integers(0, 3, n).astype(np.int64))
    return x, y


def loss_fn(out, y):
    return F.cross_entropy(out, y)


def max_rel_err(params_a, params_b) -> float:
    worst = 0.0
    for a, b in zip(params_a, params_b):
        a = np.asarray(a.detach().numpy(), dtype=np.float64)
        b = np.asarray(b.detach().numpy(), dtype=np.float64)
        scale = max(float(np.max(np.abs(b))), 1e-30)
        worst = max(worst, float(np.max(np.abs(a - b))) / scale)
    return worst
