"""Numba against the engine's NumPy code for the copies that dominate a small CNN's step on the
CPU: per-sample im2col columns and max pooling's backward scatter (single-threaded, as each runs
inside one op thread). Why it exists: the issue "CNN training at realistic size" asks for a
compiled-kernel dependency to be measured before it is adopted; Numba is not a dependency, so
this prints a note and stops when it is not installed (``pip install numba`` to run it).

    python benchmarks/numba_check.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# isort: off
import engine  # noqa: E402, F401 - sets OpenBLAS's environment before NumPy starts
import numpy as np  # noqa: E402
# isort: on

from benchmarks._timing import interleaved_throughput  # noqa: E402
from engine.ops import conv as conv_ops  # noqa: E402
from engine.ops import pool as pool_ops  # noqa: E402


def _ms_per_call(numpy_fn: Callable[[], object], numba_fn: Callable[[], object]
                 ) -> tuple[float, float]:
    """Median ms per call of each, timed in alternating rounds (``_timing``'s rule: this VM's
    speed drifts, so neither side may own a slow phase)."""
    rates = interleaved_throughput([numpy_fn, numba_fn], 1, 200, 7, settle_s=0.0)
    return 1e3 / rates[0], 1e3 / rates[1]


def _kernels(nb):  # noqa: ANN001, ANN202 - numba's decorators, built only when it is there
    @nb.njit(nogil=True, cache=False)
    def im2col(xpad, kh, kw, oh, ow, cols):  # noqa: ANN001, ANN202
        n, c = xpad.shape[:2]
        for s in range(n):
            for ci in range(c):
                for i in range(kh):
                    for j in range(kw):
                        row = cols[s, (ci * kh + i) * kw + j]
                        for y in range(oh):
                            row[y * ow:(y + 1) * ow] = xpad[s, ci, y + i, j:j + ow]
            cols[s, c * kh * kw, :] = 1.0

    @nb.njit(nogil=True, cache=False)
    def pool_backward(g, idx, gx):  # noqa: ANN001, ANN202 - 2x2 windows, stride 2
        n, c, oh, ow = g.shape
        for s in range(n):
            for ci in range(c):
                for y in range(oh):
                    for x in range(ow):
                        q, v = idx[s, ci, y, x], g[s, ci, y, x]
                        gx[s, ci, 2 * y, 2 * x] = v if q == 0 else 0.0
                        gx[s, ci, 2 * y, 2 * x + 1] = v if q == 1 else 0.0
                        gx[s, ci, 2 * y + 1, 2 * x] = v if q == 2 else 0.0
                        gx[s, ci, 2 * y + 1, 2 * x + 1] = v if q == 3 else 0.0

    return im2col, pool_backward


def main() -> int:
    try:
        import numba  # noqa: PLC0415
    except ImportError:
        print("numba is not installed: nothing to compare (pip install numba)")
        return 0
    from engine._blas import one_blas_thread  # noqa: PLC0415

    im2col, pool_backward = _kernels(numba)
    rng = np.random.default_rng(0)
    print(f"numba {numba.__version__}, numpy {np.__version__}; ms per call, one thread,"
          " medians of alternating rounds")
    print(f"{'copy':48s} {'numpy':>7s} {'numba':>7s} {'numba/numpy':>11s}")
    with one_blas_thread():
        for label, (n, c, hw, k, pad) in {
            "im2col LeNet 1->6 5x5 28x28 pad 2, 32 samples": (32, 1, 28, 5, 2),
            "im2col LeNet 6->16 5x5 14x14, 32 samples": (32, 6, 14, 5, 0),
            "im2col ResNet 64ch 3x3 32x32 pad 1, 16 samples": (16, 64, 32, 3, 1),
        }.items():
            x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
            xpad = conv_ops.pad2d(x, (pad,) * 4)
            o = hw + 2 * pad - k + 1
            view = conv_ops.window_view(xpad, k, k, o, o, (1, 1), (1, 1))
            want = conv_ops._columns(view, 1, True)[:, 0]  # noqa: SLF001
            cols = np.empty_like(want)
            im2col(xpad, k, k, o, o, cols)
            assert np.array_equal(cols, want)
            t_np, t_nb = _ms_per_call(
                lambda: conv_ops._columns(view, 1, True),  # noqa: B023, SLF001
                lambda: im2col(xpad, k, k, o, o, cols))  # noqa: B023
            print(f"{label:48s} {t_np:7.3f} {t_nb:7.3f} {t_nb / t_np:11.2f}")
        x = rng.standard_normal((64, 6, 28, 28)).astype(np.float32)
        out, idx = pool_ops._max_windows(x, (2, 2), (2, 2), (0, 0), (1, 1), (14, 14))  # noqa: SLF001
        g = rng.standard_normal(out.shape).astype(np.float32)
        fn = pool_ops.MaxPool2d.__new__(pool_ops.MaxPool2d)
        fn.cfg = (x.shape, (2, 2), (2, 2), (0, 0), (1, 1), (14, 14))
        gx = np.empty_like(x)
        pool_backward(g, idx, gx)
        assert np.array_equal(gx, fn._scatter(g, idx, x.shape))  # noqa: SLF001
        t_np, t_nb = _ms_per_call(lambda: fn._scatter(g, idx, x.shape),  # noqa: SLF001
                                  lambda: pool_backward(g, idx, gx))
        label = "max-pool backward LeNet 2x2, 64 samples"
        print(f"{label:48s} {t_np:7.3f} {t_nb:7.3f} {t_nb / t_np:11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
