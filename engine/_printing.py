"""How tensors print: PyTorch's format (``tensor([[0.1000, 0.9000]])``), with
``set_printoptions`` as PyTorch's.

Floats of one tensor share a format, chosen from all its finite values as PyTorch chooses: whole
numbers print as ``1.``, values spanning more than three decades (or beyond 1e8, or below 1e-4)
in scientific notation, the rest with ``precision`` decimals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_OPTIONS: dict[str, Any] = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80,
                            "sci_mode": None}
_PROFILES = {"default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
             "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
             "full": {"precision": 4, "threshold": 2**63 - 1, "edgeitems": 3, "linewidth": 80}}


def set_printoptions(precision: int | None = None, threshold: int | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """PyTorch's ``set_printoptions``: digits, summarisation and line width of printed tensors
    (``profile`` is ``'default'``, ``'short'`` or ``'full'``; ``sci_mode`` forces or forbids
    scientific notation, None lets each tensor choose)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}")
        _OPTIONS.update(_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold),
                       ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            _OPTIONS[key] = int(value)
    _OPTIONS["sci_mode"] = sci_mode


def get_printoptions() -> dict[str, Any]:
    return dict(_OPTIONS)


def _float_formatter(arr: np.ndarray) -> Any:
    precision = _OPTIONS["precision"]
    finite = arr[np.isfinite(arr)].astype(np.float64)
    nonzero = np.abs(finite[finite != 0])
    whole = finite.size == 0 or bool(np.all(np.ceil(finite) == finite))
    sci = _OPTIONS["sci_mode"]
    if sci is None:
        sci = False
        if nonzero.size:
            big, small = float(nonzero.max()), float(nonzero.min())
            sci = big / small > 1000 or big > 1e8 or (not whole and small < 1e-4)
    if sci:
        fmt = f"{{:.{precision}e}}"
    elif whole:
        fmt = "{:.0f}."
    else:
        fmt = f"{{:.{precision}f}}"

    def one(v: float) -> str:
        if np.isnan(v):
            return "nan"
        if np.isinf(v):
            return "inf" if v > 0 else "-inf"
        return fmt.format(v)

    width = max((len(one(float(v))) for v in arr.reshape(-1)[:10000]), default=0)
    return lambda v: one(float(v)).rjust(width)


def tensor_repr(arr: np.ndarray, device: Any, dtype_label: str | None, grad_label: str | None,
                prefix: str = "tensor(") -> str:
    """``tensor(<values>[, device=..][, dtype=..][, grad_fn=..|requires_grad=True])``."""
    if arr.dtype.kind == "V" and arr.dtype.name == "bfloat16":  # ml_dtypes: print its values
        arr = arr.astype(np.float32)
    formatter = {"float_kind": _float_formatter(arr)} if arr.dtype.kind == "f" else None
    if arr.size == 0:
        body = "[]"
    else:
        body = np.array2string(arr, separator=", ", prefix=prefix, formatter=formatter,
                               threshold=_OPTIONS["threshold"], edgeitems=_OPTIONS["edgeitems"],
                               max_line_width=_OPTIONS["linewidth"]).replace(", ...,", ",  ...,")
    extras = []
    if arr.size == 0 and arr.ndim != 1:
        extras.append(f"size={tuple(arr.shape)}")
    if device is not None:
        extras.append(f"device='{device}'")
    if dtype_label is not None:
        extras.append(f"dtype={dtype_label}")
    if grad_label is not None:
        extras.append(grad_label)
    return prefix + body + "".join(", " + e for e in extras) + ")"
