"""Training throughput of LeNet-5, an LSTM, ResNet-18 and a VGG-style CNN (the last two from
``benchmarks/cnn_models.py``), engine against PyTorch in the same run.

``run(quick, threads)`` returns ``(name, engine samples/s, torch samples/s or None, best-round
ratio or None)`` rows for ``benchmarks/engine_bench.py`` (medians over alternating rounds; the
best-round ratio is that of each side's fastest round, see ``_timing.interleaved_stats``);
``peak_memory(batch, steps, kind)`` measures peak RSS of training in fresh subprocesses, one per
library. Run alone:

    python benchmarks/bench_models.py [--quick] [--threads N] [--memory] [--profile lenet|lstm]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

from benchmarks._timing import interleaved_stats, set_threads  # noqa: E402

Step = Callable[[], None]




def image_data(batch: int, seed: int = 0):  # noqa: ANN201
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return x, y


def sequence_data(batch: int, seq: int = 50, features: int = 32, seed: int = 0):  # noqa: ANN201
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, seq, features)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    return x, y


def lenet(nn):  # noqa: ANN001, ANN201 - works with engine.nn and torch.nn alike
    """LeNet-5 as in the issue: conv5x5x6 pad 2, ReLU, maxpool 2, conv5x5x16, ReLU, maxpool 2,
    120, 84, 10."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def lstm_classifier(nn):  # noqa: ANN001, ANN201 - works with engine.nn and torch.nn alike
    """LSTM(32 -> 128) over 50 steps, a Linear on the last output."""

    class LSTMClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(32, 128, batch_first=True)
            self.head = nn.Linear(128, 10)

        def forward(self, x):  # noqa: ANN001, ANN202
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    return LSTMClassifier()


def train_step(lib, model, x, y, lr: float = 0.01) -> Step:  # noqa: ANN001
    loss_fn = lib.nn.CrossEntropyLoss()
    opt = lib.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def step() -> None:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    return step


def engine_lenet_step(batch: int) -> Step:
    import engine
    import engine.nn
    import engine.optim

    engine.manual_seed(0)
    xn, yn = image_data(batch)
    return train_step(engine, lenet(engine.nn), engine.from_numpy(xn), engine.from_numpy(yn))


def engine_replicas_step(kind: str, batch: int, replicas: int) -> Step:
    """LeNet-5, the LSTM or a CIFAR CNN (``cnn_models.MODELS``) as ``DataParallel`` over
    ``replicas`` CPU replicas: the engine's other way to use several cores (one thread per
    replica; NumPy's BLAS goes single-threaded)."""
    import engine
    import engine.nn
    import engine.optim
    from benchmarks.cnn_models import MODELS, cifar_data
    from engine.parallel import DataParallel

    engine.manual_seed(0)
    if kind == "lstm":
        (xn, yn), net = sequence_data(batch), lstm_classifier(engine.nn)
    elif kind in MODELS:
        (xn, yn), net = cifar_data(batch), MODELS[kind](engine.nn)
    else:
        (xn, yn), net = image_data(batch), lenet(engine.nn)
    model = DataParallel(net, devices=["cpu"] * replicas)
    return train_step(engine, model, engine.from_numpy(xn), engine.from_numpy(yn))


_REPLICAS_CHILD = """
import sys
sys.path.insert(0, {root!r})
from benchmarks import bench_models as b
from benchmarks._timing import median_throughput
print(median_throughput(b.engine_replicas_step({kind!r}, {batch}, {replicas}), {batch},
                        {steps}, {repeats}))
"""


def replicas_throughput(kind: str, batch: int, replicas: int, steps: int,
                        repeats: int) -> float | None:
    """Samples/s of ``engine_replicas_step`` in a fresh interpreter (its one-thread BLAS must
    not slow the other rows)."""
    return _child_number(_REPLICAS_CHILD.format(root=str(_ROOT), kind=kind, batch=batch,
                                                replicas=replicas, steps=steps, repeats=repeats))


def _child_number(code: str) -> float | None:
    """The number a fresh interpreter running ``code`` prints last (None if it failed)."""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    lines = res.stdout.strip().splitlines()
    return float(lines[-1]) if res.returncode == 0 and lines else None


def torch_lenet_step(batch: int) -> Step | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    xn, yn = image_data(batch)
    return train_step(torch, lenet(torch.nn), torch.from_numpy(xn), torch.from_numpy(yn))


def engine_lstm_step(batch: int = 64) -> Step:
    import engine
    import engine.nn
    import engine.optim

    engine.manual_seed(0)
    xn, yn = sequence_data(batch)
    return train_step(engine, lstm_classifier(engine.nn), engine.from_numpy(xn),
                       engine.from_numpy(yn))


def torch_lstm_step(batch: int = 64) -> Step | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    xn, yn = sequence_data(batch)
    return train_step(torch, lstm_classifier(torch.nn), torch.from_numpy(xn),
                       torch.from_numpy(yn))


Row = tuple[str, float, float | None, float | None]


def _compare(engine_step: Step, torch_step: Step | None, batch: int, n_steps: int,
             repeats: int) -> tuple[float, float | None, float | None]:
    """(engine median samples/s, torch median samples/s, ratio of the best rounds)."""
    eng, ref = interleaved_stats([engine_step, torch_step], batch, n_steps, repeats)
    if ref is None:
        return eng[0], None, None
    return eng[0], ref[0], eng[1] / ref[1]


def run(quick: bool = False, threads: int = 2, models: tuple[str, ...] = ("lenet", "lstm", "cnn")
        ) -> list[Row]:
    """Rows (name, engine samples/s, torch samples/s) for LeNet-5 b64/b256, the LSTM, and
    ResNet-18 and the VGG-style CNN at batch 32, each also over ``threads`` CPU replicas."""
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    rows = []
    if "lenet" in models:
        rows += _lenet_rows(quick, threads)
    if "lstm" in models:
        rows += _lstm_rows(quick, threads)
    if "cnn" in models:
        rows += _cnn_rows(quick, threads)
    return rows


def _lenet_rows(quick: bool, threads: int) -> list[Row]:
    steps, repeats = (5, 2) if quick else (50, 5)
    rows = []
    for batch in (64, 256):
        eng, ref, best = _compare(engine_lenet_step(batch), torch_lenet_step(batch), batch,
                                  steps, repeats)
        rows.append((f"LeNet-5 b{batch}", eng, ref, best))
        if threads > 1:
            rep = replicas_throughput("lenet", batch, threads, steps, repeats)
            if rep is not None:
                rows.append((f"LeNet-5 b{batch} {threads} replicas", rep, ref, None))
    return rows


def _lstm_rows(quick: bool, threads: int) -> list[Row]:
    rows = []
    lsteps = (3, 2) if quick else (20, 5)
    eng, ref, best = _compare(engine_lstm_step(64), torch_lstm_step(64), 64, *lsteps)
    rows.append(("LSTM 32-128 T50 b64", eng, ref, best))
    if threads > 1:
        rep = replicas_throughput("lstm", 64, threads, *lsteps)
        if rep is not None:
            rows.append((f"LSTM b64 {threads} replicas", rep, ref, None))
    return rows


def _cnn_rows(quick: bool, threads: int) -> list[Row]:
    from benchmarks.cnn_models import CIFAR_BATCH, engine_cnn_step, torch_cnn_step

    rows = []
    for kind, label, steps in (("resnet18", "ResNet-18", 3), ("vgg", "VGG-style", 8)):
        n_steps, repeats = (1, 2) if quick else (steps, 5)
        eng, ref, best = _compare(engine_cnn_step(kind), torch_cnn_step(kind), CIFAR_BATCH,
                                  n_steps, repeats)
        rows.append((f"{label} b{CIFAR_BATCH}", eng, ref, best))
        if threads > 1:
            rep = replicas_throughput(kind, CIFAR_BATCH, threads, n_steps, repeats)
            if rep is not None:
                rows.append((f"{label} b{CIFAR_BATCH} {threads} replicas", rep, ref, None))
    return rows


# Peak RSS from /proc's VmHWM where there is one: Linux carries ru_maxrss across execve, so a
# child started by a parent that already holds torch (~390 MB) would report the parent's peak.
# The child prints its RSS once the library, model and data are loaded, then its peak: the
# difference is what training adds (activations, gradients, optimizer state, workspaces),
# without the libraries' own code and import-time buffers (PyTorch's ~300 MB against NumPy's).
_MEMORY_CHILD = """
import resource, sys
sys.path.insert(0, {root!r})
from benchmarks import bench_models as b, cnn_models as c

def status(key):
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(key))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

step = {fn}({batch})
base = status("VmRSS:")
for _ in range({steps}):
    step()
print(base, status("VmHWM:"))
"""


def peak_memory(batch: int = 256, steps: int = 5, kind: str = "lenet"
                ) -> dict[str, tuple[int, int] | None]:
    """(RSS before the first step, peak RSS), KiB, of training LeNet-5 or a
    ``cnn_models.MODELS`` network, each library in a fresh interpreter (so neither library's
    allocator, BLAS buffers or imported code count for the other)."""
    out: dict[str, tuple[int, int] | None] = {}
    for lib in ("engine", "torch"):
        fn = (f"b.{lib}_lenet_step" if kind == "lenet"
              else f"(lambda n: c.{lib}_cnn_step({kind!r}, n))")
        code = _MEMORY_CHILD.format(root=str(_ROOT), fn=fn, batch=batch, steps=steps)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=False)
        fields = res.stdout.split()
        out[lib] = (int(fields[-2]), int(fields[-1])) if res.returncode == 0 and fields else None
    return out


def memory_rows(quick: bool = False) -> list[str]:
    """Printable peak-RSS comparisons (whole process, and what training adds to the RSS after
    loading): LeNet-5 at batch 256 and ResNet-18 at batch 32."""
    lines = []
    for kind, batch, label in (("lenet", 256, "LeNet-5 b256"), ("resnet18", 32, "ResNet-18 b32")):
        mem = peak_memory(batch, 2 if quick else 4, kind)
        eng, ref = mem["engine"], mem["torch"]
        if eng is None or ref is None:
            lines.append(f"{label} peak RSS: engine {eng}, torch {ref} (a child failed)")
            continue
        lines.append(
            f"{label} peak RSS, MiB: engine {eng[1] / 1024:.0f}, torch {ref[1] / 1024:.0f} "
            f"(ratio {eng[1] / ref[1]:.2f}); added by training: engine "
            f"{(eng[1] - eng[0]) / 1024:.0f}, torch {(ref[1] - ref[0]) / 1024:.0f} "
            f"(ratio {(eng[1] - eng[0]) / max(ref[1] - ref[0], 1):.2f}; goal <= 1.5)")
    return lines


def _profile(which: str, batch: int = 64) -> None:
    import cProfile
    import pstats

    step = engine_lenet_step(batch) if which == "lenet" else engine_lstm_step(batch)
    for _ in range(3):
        step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(10):
        step()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps (smoke run)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory", action="store_true", help="also peak RSS at batch 256")
    parser.add_argument("--profile", choices=["lenet", "lstm"], default=None)
    parser.add_argument("--batch", type=int, default=64, help="batch size for --profile")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    if args.profile:
        _profile(args.profile, args.batch)
        return 0
    print(f"{'model':<30}{'engine/s':>10}{'torch/s':>10}{'ratio':>7}{'best':>6}")
    for name, eng, ref, best in run(args.quick, args.threads):
        ratio = f"{eng / ref:.2f}" if ref else "-"
        print(f"{name:<30}{eng:>10.0f}{(ref or 0):>10.0f}{ratio:>7}"
              f"{(f'{best:.2f}' if best else '-'):>6}")
    if args.memory:
        for line in memory_rows(args.quick):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
