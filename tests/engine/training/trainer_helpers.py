"""A small classification problem and model the Trainer tests share (also used by the
distributed Trainer script under tests/engine/distributed/mpi_scripts)."""

from __future__ import annotations

import numpy as np

import engine
import engine.optim as optim
from engine import nn
from engine.data import DataLoader, TensorDataset


def dataset(n: int = 96, seed: int = 0, dtype=engine.float64) -> TensorDataset:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return TensorDataset(engine.tensor(x, dtype=dtype), engine.tensor(y))


def model(seed: int = 0, dropout: float = 0.2, dtype=engine.float64) -> nn.Module:
    engine.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(16, 3)).to(dtype=dtype)


def setup(seed: int = 0, lr: float = 0.1, shuffle: bool = True, batch_size: int = 16,
          dropout: float = 0.2, generator=None):
    """(model, loss, optimizer, scheduler, train_loader, val_loader), built identically for
    every call with the same arguments."""
    m = model(seed, dropout)
    opt = optim.SGD(m.parameters(), lr=lr, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    train = DataLoader(dataset(), batch_size=batch_size, shuffle=shuffle, generator=generator)
    val = DataLoader(dataset(48, seed=1), batch_size=24)
    return m, nn.CrossEntropyLoss(), opt, sched, train, val


def params(m: nn.Module) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in m.parameters()]


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
