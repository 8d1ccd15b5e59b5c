"""Data pipeline benchmark (issue "Engine data pipeline"): prints samples/s and the targets.

1. In-memory MNIST-shaped uint8 data (60 000 x 28 x 28), ToTensor + Normalize, batch 64:
   the fast path (one fancy index per batch, batch transforms) against >= 1 000 000 samples/s,
   and the plain per-sample path (a dataset without ``get_batch``) against >= 100 000.
2. A per-sample pipeline with a costly augmentation (RandomCrop + RandomRotation):
   ``num_workers=2`` against >= 1.6x the samples/s of ``num_workers=0``.
3. Start-up of a loader with 2 workers (until the first batch) against < 1 s.
4. (Information) Moving big batches from workers to the main process: MB/s.

Each figure is the median of ``--repeats`` runs. ``--quick`` shrinks everything for a smoke test.

    python benchmarks/data_bench.py            # the full run
    python benchmarks/data_bench.py --quick    # seconds, for CI or a busy machine
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: E402
from engine.data import ArrayDataset, DataLoader, Dataset, TensorDataset  # noqa: E402
from engine.data import transforms as T  # noqa: E402


class PerSample(Dataset):
    """Hides ``get_batch``: the DataLoader must fetch and collate sample by sample, as for any
    user-written dataset."""

    def __init__(self, inner: Dataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int):
        return self.inner[i]


def _epoch_rate(loader: DataLoader, limit: int | None = None) -> float:
    """Samples per second over one pass (or ``limit`` samples)."""
    n = 0
    start = time.perf_counter()
    for batch in loader:
        n += len(batch[1])
        if limit is not None and n >= limit:
            break
    return n / (time.perf_counter() - start)


def _median(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def _mnist_like(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.int64))


def bench_in_memory(n: int, batch_size: int, repeats: int) -> tuple[float, float]:
    x, y = _mnist_like(n)
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    ds = ArrayDataset(x, y, transform=tf)
    fast = DataLoader(ds, batch_size=batch_size, shuffle=True)
    slow = DataLoader(PerSample(ds), batch_size=batch_size, shuffle=True)
    _epoch_rate(fast, limit=batch_size * 20)  # warm-up
    return _median(lambda: _epoch_rate(fast), repeats), _median(lambda: _epoch_rate(slow),
                                                                 repeats)


def bench_workers(n: int, batch_size: int, repeats: int) -> tuple[float, float]:
    x, y = _mnist_like(n)
    tf = T.Compose([T.RandomCrop(28, padding=2), T.RandomRotation(15), T.ToTensor(),
                    T.Normalize((0.1307,), (0.3081,))])
    ds = PerSample(ArrayDataset(x, y, transform=tf))
    single = DataLoader(ds, batch_size=batch_size, shuffle=True)
    multi = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=2,
                       persistent_workers=True)
    _epoch_rate(multi, limit=batch_size * 4)  # start the (persistent) workers
    r0 = _median(lambda: _epoch_rate(single), repeats)
    r2 = _median(lambda: _epoch_rate(multi), repeats)
    return r0, r2


def bench_startup(n: int, batch_size: int, repeats: int) -> float:
    x, y = _mnist_like(n)
    ds = ArrayDataset(x, y, transform=T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))]))

    def once() -> float:
        start = time.perf_counter()
        it = iter(DataLoader(PerSample(ds), batch_size=batch_size, shuffle=True, num_workers=2))
        next(it)
        elapsed = time.perf_counter() - start
        del it
        return elapsed

    return _median(once, repeats)


def bench_transport(n: int, repeats: int) -> float:
    """MB/s of 64 x 3 x 64 x 64 float32 batches (3 MB) made by 2 workers via the fast path."""
    data = engine.from_numpy(np.random.default_rng(0).random((n, 3, 64, 64), dtype=np.float32))
    ds = TensorDataset(data, engine.arange(n))
    loader = DataLoader(ds, batch_size=64, num_workers=2, persistent_workers=True)
    _epoch_rate(loader)
    rate = _median(lambda: _epoch_rate(loader), repeats)
    return rate * 3 * 64 * 64 * 4 / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--aug-samples", type=int, default=10_000,
                        help="samples per pass in the augmentation benchmark")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.aug_samples, args.repeats = 4_000, 640, 1

    print(f"LayerForge data pipeline benchmark  (python {sys.version.split()[0]}, numpy "
          f"{np.__version__}, {os.cpu_count()} CPUs, batch {args.batch_size})")
    fast, slow = bench_in_memory(args.samples, args.batch_size, args.repeats)
    r0, r2 = bench_workers(args.aug_samples, args.batch_size, args.repeats)
    startup = bench_startup(args.samples, args.batch_size, max(args.repeats, 3))
    transport = bench_transport(2048 if not args.quick else 512, args.repeats)

    rows = [
        ("in-memory, fast path (samples/s)", f"{fast:,.0f}", ">= 1,000,000", fast >= 1e6),
        ("in-memory, per-sample path (samples/s)", f"{slow:,.0f}", ">= 100,000", slow >= 1e5),
        ("augmentation, num_workers=0 (samples/s)", f"{r0:,.0f}", "", None),
        ("augmentation, num_workers=2 (samples/s)", f"{r2:,.0f}", "", None),
        ("augmentation speed-up, 2 workers vs 0", f"{r2 / r0:.2f}x", ">= 1.6x", r2 / r0 >= 1.6),
        ("start-up, 2 workers to first batch (s)", f"{startup:.3f}", "< 1 s", startup < 1.0),
        ("worker -> main transfer, 3 MB batches (MB/s)", f"{transport:,.0f}", "", None),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("  ok" if ok else "  BELOW TARGET")
        print(f"  {name:<{width}}  {value:>12}  {target:<13}{verdict}")
    if args.quick:
        print("(--quick: tiny sizes, figures are indicative only)")


if __name__ == "__main__":
    main()
