"""Why ResNet-18 trained with Adam drifts from PyTorch by a few percent in loss after 5 steps
although the first gradients agree to ~1e-6: rounding, or a real difference?

The experiment: the same ResNet-18 (PyTorch's weights loaded into the engine's), the same batch,
5 Adam steps, in float32 and in float64. If the two libraries compute the same function, float64
runs agree to ~1e-12 and only float32 runs drift; a real difference (BatchNorm statistics, where
Adam's epsilon goes) would show in float64 as well. A control measures PyTorch against itself
with its weights nudged by one float32 rounding step: the drift float32 rounding alone causes.

Finding (measured on 2 CPU cores, batch 8 of 3x32x32, lr 1e-3, PyTorch 2.13):

    float64: step-1 gradient rel. error 2.8e-14; loss rel. diff 5e-16, 1e-13, 7e-14, 1e-13,
             3e-13 at steps 1-5
    float32: step-1 gradient rel. error 1.0e-5;  loss rel. diff 6e-7, 3e-5, 7.7e-2, 7.1e-2,
             2.1e-2
    control, PyTorch vs itself with its float32 weights nudged one ulp: 3e-7, 4e-4, 7.8e-2,
             1.0e-1, 5.0e-2

So the drift is float32 rounding (the accumulation order of the convolutions' GEMMs and of the
reductions), amplified by Adam: its first steps move every weight by about lr * sign(g), so
gradient components near zero whose sign differs by rounding move weights in opposite
directions; PyTorch drifts as much from itself. Nothing in BatchNorm (running statistics do not
enter training-mode losses; batch statistics agree to 1e-14 in float64) or in Adam (epsilon is
added after the square root, as in PyTorch; the optimizer tests agree to 1e-12) differs.
tests/engine/test_training_vs_torch.py checks the float64 half on a small residual network.

    python benchmarks/resnet_drift.py [--steps 5] [--batch 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: E402


def resnet18(lib: Any, num_classes: int = 10) -> Any:
    """torchvision's ResNet-18 layout, written once for ``engine`` and ``torch``."""
    nn = lib.nn

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x: Any) -> Any:
            out = self.bn1(self.conv1(x)).relu()
            out = self.bn2(self.conv2(out))
            skip = x if self.downsample is None else self.downsample(x)
            return (out + skip).relu()

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
            for i, (cin, cout, stride) in enumerate(widths, 1):
                setattr(self, f"layer{i}", nn.Sequential(BasicBlock(cin, cout, stride),
                                                         BasicBlock(cout, cout, 1)))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x: Any) -> Any:
            x = self.maxpool(self.bn1(self.conv1(x)).relu())
            for i in range(1, 5):
                x = getattr(self, f"layer{i}")(x)
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet18()


def train(lib: Any, model: Any, x: np.ndarray, y: np.ndarray, steps: int,
          dtype: str) -> tuple[list[float], np.ndarray]:
    """Losses of ``steps`` Adam steps, and the first step's gradient of conv1."""
    model = model.double() if dtype == "float64" else model.float()
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = lib.tensor(x.astype(dtype)), lib.tensor(y)
    losses, first_grad = [], None
    for _ in range(steps):
        opt.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        if first_grad is None:
            first_grad = np.array(model.conv1.weight.grad.detach().numpy(), dtype=np.float64)
        opt.step()
        losses.append(float(loss.detach()))
    return losses, first_grad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    import torch  # noqa: PLC0415 - a comparison benchmark: PyTorch is the reference

    torch.set_num_threads(2)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 3, 32, 32))
    y = rng.integers(0, 10, args.batch)
    reference = resnet18(torch)
    state = {k: v.detach().numpy().copy() for k, v in reference.state_dict().items()}

    def torch_model(nudge: bool = False) -> Any:
        m = resnet18(torch)
        m.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
        if nudge:  # one float32 rounding step on every weight: rounding's own effect
            with torch.no_grad():
                for p in m.parameters():
                    p.copy_(torch.from_numpy(np.nextafter(p.numpy().astype(np.float32),
                                                          np.float32(np.inf))))
        return m

    def engine_model() -> Any:
        m = resnet18(engine)
        m.load_state_dict(state)
        return m

    print(f"ResNet-18, batch {args.batch} x 3x32x32, Adam lr 1e-3, {args.steps} steps")
    for dtype in ("float64", "float32"):
        ours, g_ours = train(engine, engine_model(), x, y, args.steps, dtype)
        theirs, g_theirs = train(torch, torch_model(), x, y, args.steps, dtype)
        grad_err = np.abs(g_ours - g_theirs).max() / np.abs(g_theirs).max()
        print(f"\n{dtype}: step-1 conv1 gradient max rel. error {grad_err:.1e}")
        print("step  engine loss      torch loss       rel. diff")
        for i, (a, b) in enumerate(zip(ours, theirs), 1):
            print(f"{i:4d}  {a:.12f}  {b:.12f}  {abs(a - b) / abs(b):.2e}")
        if dtype == "float32":
            nudged, _ = train(torch, torch_model(nudge=True), x, y, args.steps, dtype)
            print("control: PyTorch vs PyTorch with its float32 weights nudged by one ulp")
            for i, (a, b) in enumerate(zip(nudged, theirs), 1):
                print(f"{i:4d}  {a:.12f}  {b:.12f}  {abs(a - b) / abs(b):.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
