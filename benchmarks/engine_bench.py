"""Training throughput of the engine against PyTorch (same model, same optimizer, same run).

Prints samples/s (median of several timed runs) for the seed MLP at batch 64 and 256, a
hand-written NumPy step with no autograd as the floor autograd must approach, PyTorch's figure
when torch is installed, the ratios and each row's goal. Vision and sequence models (LeNet-5,
LSTM, ResNet-18, VGG-style) are measured by ``benchmarks/bench_models.py``, whose data and
training step the MLP rows share; ``--memory`` adds peak RSS against PyTorch.

    python benchmarks/engine_bench.py [--quick] [--threads N] [--only mlp|models|cnn] [--memory]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_models  # noqa: E402
from benchmarks._timing import interleaved_stats, set_threads  # noqa: E402
from benchmarks.bench_models import image_data, train_step  # noqa: E402


def seed_mlp(nn):  # noqa: ANN001, ANN201 - works with engine.nn and torch.nn alike
    """The seed document's MNIST MLP, 784-128-10."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def engine_mlp_step(batch: int) -> Callable[[], None]:
    import engine
    import engine.nn
    import engine.optim

    engine.manual_seed(0)
    xn, yn = image_data(batch)
    return train_step(engine, seed_mlp(engine.nn), engine.from_numpy(xn), engine.from_numpy(yn))


def numpy_mlp_step(batch: int) -> Callable[[], None]:
    """The same training step written by hand in NumPy: the floor for autograd's overhead."""
    import numpy as np

    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((128, 784)) * 0.03).astype(np.float32)
    b1 = np.zeros(128, np.float32)
    w2 = (rng.standard_normal((10, 128)) * 0.08).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    params = [w1, b1, w2, b2]
    bufs = [np.zeros_like(p) for p in params]
    xn, yn = image_data(batch)
    x = xn.reshape(batch, -1)
    rows = np.arange(batch)

    def step() -> None:
        h = x @ w1.T
        h += b1
        mask = h > 0
        h *= mask
        z = h @ w2.T
        z += b2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        e /= e.sum(axis=1, keepdims=True)
        e[rows, yn] -= 1
        e /= batch
        gw2 = e.T @ h
        gb2 = e.sum(0)
        gh = e @ w2
        gh *= mask
        gw1 = gh.T @ x
        gb1 = gh.sum(0)
        for p, g, b in zip(params, (gw1, gb1, gw2, gb2), bufs):
            b *= 0.9
            b += g
            p -= 0.01 * b

    return step


def torch_mlp_step(batch: int) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    xn, yn = image_data(batch)
    return train_step(torch, seed_mlp(torch.nn), torch.from_numpy(xn), torch.from_numpy(yn))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps (smoke run)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/torch threads (default 2)")
    parser.add_argument("--only", choices=["mlp", "models", "cnn"], default=None,
                        help="models: LeNet-5, LSTM and the CNNs; cnn: ResNet-18 and VGG only")
    parser.add_argument("--memory", action="store_true",
                        help="also peak RSS (LeNet-5 b256, ResNet-18 b32), one child per library")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    steps, repeats = (20, 3) if args.quick else (200, 7)
    print(f"engine_bench: threads={args.threads}, torch={torch_version or 'not installed'}")
    rows = []
    if args.only in (None, "mlp"):
        for batch in (64, 256):
            eng, hand, ref = interleaved_stats(
                [engine_mlp_step(batch), numpy_mlp_step(batch), torch_mlp_step(batch)], batch,
                steps, repeats)
            rows.append((f"MLP 784-128-10 b{batch}", eng[0], ref and ref[0], hand[0],
                         ref and eng[1] / ref[1]))
    if args.only in (None, "models", "cnn"):
        models = ("cnn",) if args.only == "cnn" else ("lenet", "lstm", "cnn")
        for name, eng, ref, best in bench_models.run(args.quick, args.threads, models):
            rows.append((name, eng, ref, None, best))
    print()
    print("ratio: engine/PyTorch of the medians over alternating rounds; best: of each side's "
          "fastest round (steadier when co-tenants load the machine)")
    print(f"{'model':<30}{'engine/s':>10}{'torch/s':>10}{'ratio':>7}{'best':>6}{'goal':>6}"
          f"{'numpy/s':>10}")
    for name, eng, ref, hand, best in rows:
        ratio = f"{eng / ref:.2f}" if ref else "-"
        print(f"{name:<30}{eng:>10.0f}{(ref or 0):>10.0f}{ratio:>7}"
              f"{(f'{best:.2f}' if best else '-'):>6}{_goal(name):>6}"
              f"{(f'{hand:.0f}' if hand else '-'):>10}")
    if args.memory:
        print()
        for line in bench_models.memory_rows(args.quick):
            print(line)
    return 0


# Issue 21's goals for the engine/PyTorch ratio of each plain row (replica rows have none).
GOALS = {"MLP": 1.0, "LeNet-5": 0.9, "LSTM": 0.8, "ResNet-18": 0.6, "VGG-style": 0.6}


def _goal(name: str) -> str:
    if "replicas" in name:
        return ""
    return next((f">={g:.1f}" for key, g in GOALS.items() if name.startswith(key)), "")


if __name__ == "__main__":
    raise SystemExit(main())
