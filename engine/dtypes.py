"""Engine dtypes are NumPy dtypes (CuPy uses the same ones), named as PyTorch names them."""

from __future__ import annotations

from typing import Any

import numpy as np

float32 = np.dtype("float32")
float64 = np.dtype("float64")
float16 = np.dtype("float16")
int64 = np.dtype("int64")
int32 = np.dtype("int32")
int16 = np.dtype("int16")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")
float = float32  # noqa: A001 - PyTorch's alias
double = float64
half = float16
long = int64
int = int32  # noqa: A001

default_float = float32

_NAMES = {
    float32: "float32", float64: "float64", float16: "float16", int64: "int64",
    int32: "int32", int16: "int16", int8: "int8", uint8: "uint8", bool_: "bool",
}


def dtype_name(dt: np.dtype) -> str:
    return _NAMES.get(dt, str(dt))


def dtype_repr(dt: np.dtype) -> str:
    """How PyTorch code spells the dtype (``engine.float32``)."""
    return "engine." + dtype_name(dt)


def as_dtype(spec: Any) -> np.dtype:
    """Accept an engine dtype, a NumPy dtype/type or a name ("float32", "long", ...)."""
    if spec is None:
        return default_float
    if isinstance(spec, str):
        alias = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
                 "int": "int32", "bool": "bool"}
        spec = alias.get(spec, spec)
    try:
        dt = np.dtype(spec)
    except TypeError:
        raise TypeError(f"unknown dtype {spec!r}; use engine.float32, engine.int64, ...") from None
    if dt not in _NAMES:
        raise TypeError(f"dtype {dt} is not supported; use one of {sorted(_NAMES.values())}")
    return dt


def is_floating(dt: np.dtype) -> bool:
    return dt.kind == "f"
