"""NumPy's BLAS thread count, and the engine's own threads inside one CPU op.

Why: CPU replicas of ``DataParallel`` run in threads, one per core. If OpenBLAS keeps its own
worker threads as well, they spin on the very cores the replicas need: LeNet-5 over two CPU
replicas on two cores trained at 2,821 samples/s with OpenBLAS on two threads, against 3,682
for one plain model, and at 5,176-6,416 with OpenBLAS on one thread. Switching is one-way: an
OpenBLAS worker that has run keeps spinning for a while, so toggling the count per step costs
more than it saves; a whole run is the unit.

Why the count is given back after a run (``one_blas_thread``): the thread count changes the
last bits of a GEMM's sums, so a program that trains CPU replicas once and then one CPU (the
window, run after run) must train that run exactly as a fresh process would.

Inside one large convolution the engine splits the batch over its own threads instead, with
BLAS single-threaded for the duration (``op_threads``): then the im2col copies, transposes and
col2im adds, which NumPy runs on one core, use every core too, and no BLAS worker is woken to
spin. With replicas (``use_one_blas_thread`` or inside ``one_blas_thread``) ops stay
single-threaded.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

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


@functools.cache
def _blas_libraries() -> tuple[Any, ...]:
    """threadpoolctl's controllers of the BLAS libraries loaded now (NumPy's), found once."""
    try:
        from threadpoolctl import ThreadpoolController  # noqa: PLC0415
    except ImportError:
        return ()
    import numpy  # noqa: F401, PLC0415 - its BLAS must be loaded to be found

    return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


def blas_threads() -> int:
    """How many threads NumPy's BLAS uses now (1 when unknown)."""
    return max((lib.get_num_threads() for lib in _blas_libraries()), default=1)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_busy = threading.Lock()  # one split op at a time: BLAS's thread count is process-wide


def op_threads() -> int:
    """How many threads one CPU op may split its work over: BLAS's thread count (so one core
    per BLAS thread the user allowed, and 1 under ``use_one_blas_thread``)."""
    return 1 if _limited or _scopes else blas_threads()


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n:  # noqa: SLF001
            _pool = ThreadPoolExecutor(n, thread_name_prefix="layerforge-op")
        return _pool


@contextlib.contextmanager
def _single_blas_thread() -> Iterator[None]:
    libs = _blas_libraries()
    saved = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, saved):
            lib.set_num_threads(n)


def split_map(fn: Callable[[Any], Any], parts: Sequence[Any]) -> list[Any]:
    """``[fn(p) for p in parts]``, the parts run on up to ``len(parts)`` threads with BLAS
    single-threaded meanwhile (one thread per part; results in ``parts``' order). Runs in the
    calling thread when there is one part, or when another split op is already running (a
    thread of ``DataParallel`` or of the caller's own)."""
    if len(parts) <= 1 or not _busy.acquire(blocking=False):
        return [fn(p) for p in parts]
    try:
        with _single_blas_thread():
            futures = [_executor(len(parts) - 1).submit(fn, p) for p in parts[1:]]
            try:
                first = fn(parts[0])
            finally:
                wait(futures)  # none may still run once BLAS's thread count is restored
            return [first] + [f.result() for f in futures]
    finally:
        _busy.release()
