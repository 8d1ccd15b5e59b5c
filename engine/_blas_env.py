"""How long OpenBLAS's idle worker threads spin, set before NumPy starts OpenBLAS.

Why: after a multi-threaded GEMM, OpenBLAS's workers busy-wait for the next one, by default
for 2^28 TSC ticks (about 0.1 s), on the very cores that the engine's own op threads
(``engine._blas.split_map``: convolution, pooling, BatchNorm, ReLU) need next. One
multi-threaded Linear GEMM per step was enough to keep a worker spinning through a whole CNN
step, so LeNet-5 trained no faster on two threads than on one. 2^20 ticks (under a
millisecond) still keeps the workers awake between the back-to-back GEMMs of an LSTM's time
steps and an MLP's layers. Measured per training step on this project's 2-core machine, two
threads, default -> 2^20: LeNet-5 batch 256 25.9 -> 16.0 ms, batch 64 7.4 -> 6.05 ms, the
VGG-style CNN 291 -> 244 ms; the LSTM (15.3 -> 15.0 ms) and the seed MLP (0.38 ms) unchanged.
Shorter timeouts let the LSTM's workers fall asleep between steps (2^16: 15 -> 25 ms).

OpenBLAS reads the variable once, when it starts (NumPy's import), so ``engine/__init__``
imports this module before anything imports NumPy; a value the user set wins, and child
processes (DataLoader workers, spawned ranks) inherit it.
"""

from __future__ import annotations

import os

# log2 of the ticks an idle OpenBLAS worker spins before it sleeps (OpenBLAS: 4..30).
THREAD_TIMEOUT_LOG2 = 20


def prepare() -> None:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", str(THREAD_TIMEOUT_LOG2))


prepare()
