"""Training against PyTorch from the same weights: a small residual CNN with BatchNorm, trained
with Adam, follows PyTorch step for step in float64. (benchmarks/resnet_drift.py shows the same
for ResNet-18 and that its float32 drift is rounding: PyTorch drifts as much from itself.)"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from torch_reference import assert_like_torch, module_pair, torch_or_skip

import engine


def small_resnet(lib: Any) -> Any:
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(8)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 4)

        def forward(self, x: Any) -> Any:
            h = self.bn1(self.conv1(x)).relu()
            h = (self.bn2(self.conv2(h)) + h).relu()
            return self.fc(self.pool(h).flatten(1))

    return Net()


@pytest.mark.parametrize("optimizer", ["Adam", "SGD"])
def test_residual_cnn_trains_like_torch_in_float64(optimizer: str) -> None:
    torch = torch_or_skip()
    emod, tmod = module_pair(small_resnet)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3, 8, 8)), rng.integers(0, 4, 6)
    losses = {}
    for lib, mod in ((engine, emod), (torch, tmod)):
        kwargs = {"lr": 1e-2} if optimizer == "Adam" else {"lr": 0.1, "momentum": 0.9}
        opt = getattr(lib.optim, optimizer)(mod.parameters(), **kwargs)
        seen = []
        for _ in range(5):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(mod(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            opt.step()
            seen.append(float(loss.detach()))
        losses[lib.__name__] = seen
    np.testing.assert_allclose(losses["engine"], losses["torch"], rtol=1e-10)
    for p, tp in zip(emod.state_dict().values(), tmod.state_dict().values()):
        assert_like_torch(p, tp, rtol=1e-9, atol=1e-11)
