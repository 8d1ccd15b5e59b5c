"""``assert_close``: PyTorch's ``torch.testing.assert_close`` for engine tensors (also numbers,
arrays, and nests of them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import dtypes
from ..tensor import Tensor

# PyTorch's defaults (rtol, atol) by dtype; integers and bools must match exactly.
_TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7)}


def assert_close(actual: Any, expected: Any, *, rtol: float | None = None,
                 atol: float | None = None, equal_nan: bool = False, check_device: bool = True,
                 check_dtype: bool = True, msg: str | None = None) -> None:
    """Raise AssertionError unless ``actual`` and ``expected`` are close: same shapes (and
    dtypes and devices unless told not to check), and ``|a - e| <= atol + rtol * |e|``."""
    if (rtol is None) != (atol is None):
        raise ValueError("assert_close: give both rtol and atol, or neither")
    if isinstance(expected, Mapping):
        assert isinstance(actual, Mapping) and set(actual) == set(expected), \
            msg or f"keys differ: {sorted(actual)} vs {sorted(expected)}"
        for k in expected:
            assert_close(actual[k], expected[k], rtol=rtol, atol=atol, equal_nan=equal_nan,
                         check_device=check_device, check_dtype=check_dtype, msg=msg)
        return
    if isinstance(expected, Sequence) and not isinstance(expected, str | Tensor):
        assert isinstance(actual, Sequence) and len(actual) == len(expected), \
            msg or f"lengths differ: {len(actual)} vs {len(expected)}"
        for a, e in zip(actual, expected):
            assert_close(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan,
                         check_device=check_device, check_dtype=check_dtype, msg=msg)
        return
    a, e = _host(actual), _host(expected)
    if isinstance(actual, Tensor) and isinstance(expected, Tensor):
        if check_device and actual.device != expected.device:
            raise AssertionError(msg or f"The values are on different devices: "
                                        f"{actual.device} and {expected.device}")
        if check_dtype and actual.dtype != expected.dtype:
            raise AssertionError(msg or f"The values for attribute 'dtype' do not match: "
                                        f"{actual.dtype} != {expected.dtype}.")
    if a.shape != e.shape:
        raise AssertionError(msg or f"The values for attribute 'shape' do not match: "
                                    f"{a.shape} != {e.shape}.")
    if rtol is None:
        rtol, atol = _TOLERANCES.get(dtypes.dtype_name(e.dtype), (0.0, 0.0))
    ok = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan) if a.dtype.kind in "fc" \
        or e.dtype.kind in "fc" else (a == e)
    if not np.all(ok):
        bad = int(np.size(ok) - np.count_nonzero(ok))
        diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
        worst = int(np.nanargmax(np.where(ok, -1, diff)))
        raise AssertionError(msg or (
            f"Tensor-likes are not close!\n\nMismatched elements: {bad} / {np.size(ok)}\n"
            f"Greatest absolute difference: {np.nanmax(np.where(ok, 0, diff))} at index "
            f"{np.unravel_index(worst, a.shape) if a.ndim else ()} (up to {atol} allowed)\n"
            f"Relative tolerance: {rtol}"))


def _host(x: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        return np.asarray(x.detach().cpu()._data)
    return np.asarray(x)
