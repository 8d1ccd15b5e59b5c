"""NumPy's BLAS thread count, for the engine's own CPU parallelism.

Why: CPU replicas of ``DataParallel`` run in threads, one per core. If OpenBLAS keeps its own
worker threads as well, they spin on the very cores the replicas need: LeNet-5 over two CPU
replicas on two cores trained at 2,821 samples/s with OpenBLAS on two threads, against 3,682
for one plain model, and at 5,176-6,416 with OpenBLAS on one thread. Switching is one-way: an
OpenBLAS worker that has run keeps spinning for a while, so toggling the count per step costs
more than it saves; a whole run is the unit.

Why the count is given back after a run (``one_blas_thread``): the thread count changes the
last bits of a GEMM's sums, so a program that trains CPU replicas once and then one CPU (the
window, run after run) must train that run exactly as a fresh process would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_limited = False
_scopes = 0


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """One BLAS thread while the block runs (a training run over CPU replicas), the previous
    count after it; DataParallel built inside leaves the process's count alone."""
    global _scopes
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
    except ImportError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        _scopes += 1
        try:
            yield
        finally:
            _scopes -= 1


def use_one_blas_thread() -> bool:
    """Make NumPy's BLAS (OpenBLAS, MKL, BLIS) single-threaded for the rest of the process,
    through threadpoolctl (inside ``one_blas_thread`` it already is, for that block only).
    False when threadpoolctl is not installed (nothing is changed)."""
    global _limited
    if _limited or _scopes:
        return True
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
    except ImportError:
        return False
    threadpool_limits(1, user_api="blas")
    _limited = True
    return True
