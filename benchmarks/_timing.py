"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


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
