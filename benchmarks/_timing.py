"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence


def set_threads(n: int) -> None:
    """Ask BLAS/OpenMP for ``n`` threads; must run before NumPy or torch is imported."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))


def median_throughput(step: Callable[[], None], batch: int, steps: int, repeats: int) -> float:
    """Samples/s of ``step``: median over ``repeats`` runs of ``steps`` steps, after warm-up."""
    for _ in range(max(3, steps // 10)):
        step()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(batch * steps / (time.perf_counter() - t0))
    return statistics.median(rates)


def interleaved_throughput(steps: Sequence[Callable[[], None] | None], batch: int, n_steps: int,
                           repeats: int, settle_s: float = 0.3) -> list[float | None]:
    """Samples/s of each step function (None stays None), measured in alternating rounds.

    Why: this VM's speed drifts by up to 2x within minutes; timing one library after the other
    let a drift land on one side of a ratio. Alternating rounds put every library in every phase,
    and the median over rounds drops the outliers. Each round starts after ``settle_s`` idle
    seconds and one untimed step: the worker threads of the library timed before (OpenBLAS,
    OpenMP) spin for a while after their last call and would otherwise steal this round's cores
    (measured: PyTorch's MLP lost 3-6x right after an engine round)."""
    live = [(i, s) for i, s in enumerate(steps) if s is not None]
    for _, step in live:
        for _ in range(max(3, n_steps // 10)):
            step()
    rates: dict[int, list[float]] = {i: [] for i, _ in live}
    for _ in range(repeats):
        for i, step in live:
            time.sleep(settle_s)
            step()
            t0 = time.perf_counter()
            for _ in range(n_steps):
                step()
            rates[i].append(batch * n_steps / (time.perf_counter() - t0))
    return [statistics.median(rates[i]) if i in rates else None for i in range(len(steps))]
