"""NumPy's BLAS thread count, for the engine's own CPU parallelism.

Why: CPU replicas of ``DataParallel`` run in threads, one per core. If OpenBLAS keeps its own
worker threads as well, they spin on the very cores the replicas need: LeNet-5 over two CPU
replicas on two cores trained at 2,821 samples/s with OpenBLAS on two threads, against 3,682
for one plain model, and at 5,176-6,416 with OpenBLAS on one thread. Switching is one-way: an
OpenBLAS worker that has run keeps spinning for a while, so toggling the count per step costs
more than it saves.
"""

from __future__ import annotations

_limited = False


def use_one_blas_thread() -> bool:
    """Make NumPy's BLAS (OpenBLAS, MKL, BLIS) single-threaded for the rest of the process,
    through threadpoolctl. False when threadpoolctl is not installed (nothing is changed)."""
    global _limited
    if _limited:
        return True
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
    except ImportError:
        return False
    threadpool_limits(1, user_api="blas")
    _limited = True
    return True
