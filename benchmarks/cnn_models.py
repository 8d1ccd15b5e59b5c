"""Realistic-size CNNs for the benchmarks: a ResNet-18 in its CIFAR form and a VGG-style network,
each written once for ``engine.nn`` and ``torch.nn`` alike (the module namespace is an argument).

Why these two: LeNet-5 is too small to show what users who design anything larger feel first —
3x3 convolutions over 64-512 channels, BatchNorm after every convolution, residual adds. The
ResNet is the CIFAR form (3x3 stem, no max-pool, 4 stages x 2 basic blocks, 64-512 channels);
the VGG-style network is conv-BN-ReLU pairs with max-pools between stages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Step = Callable[[], None]
# Batch and image size of the ResNet-18 measurement (CIFAR-10: 3x32x32, batch 32).
CIFAR_BATCH = 32


def cifar_data(batch: int, seed: int = 0):  # noqa: ANN201
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return x, y


def resnet18(nn: Any, num_classes: int = 10) -> Any:
    """ResNet-18, CIFAR form: 3x3 stem conv (64), four stages of two basic blocks (64, 128, 256,
    512 channels; stride 2 from the second stage on, with a 1x1 projection shortcut), global
    average pool, one Linear."""

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):  # noqa: ANN001, ANN202
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + self.shortcut(x))

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(64), nn.ReLU(inplace=True))
            blocks, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
                cin = cout
            self.blocks = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(512, num_classes)

        def forward(self, x):  # noqa: ANN001, ANN202
            return self.head(self.pool(self.blocks(self.stem(x))).flatten(1))

    return ResNet18()


def vgg_small(nn: Any, num_classes: int = 10) -> Any:
    """VGG-style CNN for 3x32x32: [64, 64, M, 128, 128, M, 256, 256, M] of 3x3 conv-BN-ReLU,
    then a 4096-256-10 classifier."""
    layers: list[Any] = []
    cin = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1, bias=False), nn.BatchNorm2d(v),
                       nn.ReLU(inplace=True)]
            cin = v
    layers += [nn.Flatten(), nn.Linear(256 * 4 * 4, 256), nn.ReLU(inplace=True),
               nn.Linear(256, num_classes)]
    return nn.Sequential(*layers)


MODELS = {"resnet18": resnet18, "vgg": vgg_small}


def cnn_step(lib: Any, which: str, batch: int = CIFAR_BATCH) -> Step:
    """A training step (SGD momentum, cross entropy) of ``MODELS[which]`` with ``lib`` (the
    ``engine`` or ``torch`` module)."""
    from benchmarks.bench_models import train_step

    lib.manual_seed(0)
    xn, yn = cifar_data(batch)
    return train_step(lib, MODELS[which](lib.nn), lib.from_numpy(xn), lib.from_numpy(yn))


def engine_cnn_step(which: str, batch: int = CIFAR_BATCH) -> Step:
    import engine
    import engine.nn
    import engine.optim

    return cnn_step(engine, which, batch)


def torch_cnn_step(which: str, batch: int = CIFAR_BATCH) -> Step | None:
    try:
        import torch
    except ImportError:
        return None
    return cnn_step(torch, which, batch)
