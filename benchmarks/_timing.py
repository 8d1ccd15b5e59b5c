"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence


def set_threads(n: int) -> None:
    """Ask BLAS/OpenMP for ``n`` threads; must run before NumPy or torch is imported. Imports
    the engine then, before anything imports NumPy, so OpenBLAS starts with the engine's
    settings (``engine._blas_env``), as in the app."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    import engine  # noqa: F401, PLC0415


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


def interleaved_rates(steps: Sequence[Callable[[], None] | None], batch: int, n_steps: int,
                      repeats: int, settle_s: float = 0.3,
                      syncs: Sequence[Callable[[], None]] | None = None
                      ) -> list[list[float] | None]:
    """Samples/s of each step function in every round (None stays None), measured in
    alternating rounds; ``syncs[i]`` (a device synchronisation) closes each of step i's timings.

    Why: this VM's speed drifts by up to 2x within minutes; timing one library after the other
    let a drift land on one side of a ratio. Alternating rounds put every library in every phase,
    and the median over rounds drops the outliers. Each round starts after ``settle_s`` idle
    seconds and one untimed step: the worker threads of the library timed before (OpenBLAS,
    OpenMP) spin for a while after their last call and would otherwise steal this round's cores
    (measured: PyTorch's MLP lost 3-6x right after an engine round)."""
    live = [(i, s) for i, s in enumerate(steps) if s is not None]
    sync = list(syncs) if syncs is not None else [lambda: None] * len(steps)
    for i, step in live:
        for _ in range(max(3, n_steps // 10)):
            step()
        sync[i]()
    rates: dict[int, list[float]] = {i: [] for i, _ in live}
    for _ in range(repeats):
        for i, step in live:
            time.sleep(settle_s)
            step()
            sync[i]()
            t0 = time.perf_counter()
            for _ in range(n_steps):
                step()
            sync[i]()
            rates[i].append(batch * n_steps / (time.perf_counter() - t0))
    return [rates.get(i) for i in range(len(steps))]


def interleaved_stats(steps: Sequence[Callable[[], None] | None], batch: int, n_steps: int,
                      repeats: int, settle_s: float = 0.3) -> list[tuple[float, float] | None]:
    """(median, best) samples/s of each step function over ``interleaved_rates``' rounds.

    Why the best round too: on this shared VM a co-tenant's burst slows a library whose threads
    meet at barriers (PyTorch's OpenMP) far more than one whose threads work apart: with the
    load at 3-4, PyTorch's MLP ran at 8% of its quiet speed and the engine's at 60%, so the
    median ratio swung from 1.3 to 15. Each side's best round is its least disturbed one, and
    their ratio is the steadier figure when the median ratio looks disturbed."""
    return [None if r is None else (statistics.median(r), max(r))
            for r in interleaved_rates(steps, batch, n_steps, repeats, settle_s)]


def interleaved_throughput(steps: Sequence[Callable[[], None] | None], batch: int, n_steps: int,
                           repeats: int, settle_s: float = 0.3) -> list[float | None]:
    """The median samples/s of each step function over ``interleaved_rates``' rounds."""
    return [None if s is None else s[0]
            for s in interleaved_stats(steps, batch, n_steps, repeats, settle_s)]
