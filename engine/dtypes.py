"""Engine dtypes: NumPy dtypes (CuPy uses the same ones) named and printed as PyTorch names them."""

from __future__ import annotations

from typing import Any

import numpy as np


class dtype:  # noqa: N801 - PyTorch's name
    """A tensor's element type, printed as PyTorch prints its own (``engine.float32``).

    It stands for a NumPy dtype everywhere NumPy or CuPy takes one (``np.dtype(engine.float32)``
    is ``float32``: NumPy reads the ``dtype`` attribute) and compares and hashes equal to it, so
    ``t.dtype == np.float32`` holds and dicts keyed by NumPy dtypes find it. Attributes NumPy
    dtypes have (``kind``, ``itemsize``, ``type``...) are forwarded.
    """

    __slots__ = ("dtype", "name")

    def __init__(self, np_dtype: Any, name: str) -> None:
        self.dtype = np_dtype
        self.name = name

    def __repr__(self) -> str:
        return "engine." + self.name

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, dtype):
            return self.dtype == other.dtype
        try:
            return np.dtype(other) == self.dtype  # type: ignore[arg-type]
        except TypeError:
            return NotImplemented

    def __hash__(self) -> int:
        return hash(self.dtype)

    def __getattr__(self, name: str) -> Any:
        if self.dtype is None:
            raise TypeError(_BFLOAT16_MISSING)
        return getattr(self.dtype, name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_by_name, (self.name,))

    @property
    def is_floating_point(self) -> bool:
        return self.dtype is not None and self.dtype.kind == "f" or self.name == "bfloat16"

    @property
    def is_complex(self) -> bool:
        return False

    @property
    def is_signed(self) -> bool:
        return self.name not in ("uint8", "bool")

    @property
    def itemsize(self) -> int:
        return 2 if self.dtype is None else self.dtype.itemsize

    def to_complex(self) -> dtype:
        raise TypeError("the engine has no complex dtypes")


_BFLOAT16_MISSING = ("bfloat16 tensors need the ml_dtypes package (pip install ml_dtypes); the "
                     "engine runs them on the CPU only")
try:
    import ml_dtypes as _ml_dtypes

    _BF16: Any = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # bfloat16 stays nameable (torch.bfloat16 in configs), unusable for data
    _BF16 = None

float32 = dtype(np.dtype("float32"), "float32")
float64 = dtype(np.dtype("float64"), "float64")
float16 = dtype(np.dtype("float16"), "float16")
bfloat16 = dtype(_BF16, "bfloat16")
int64 = dtype(np.dtype("int64"), "int64")
int32 = dtype(np.dtype("int32"), "int32")
int16 = dtype(np.dtype("int16"), "int16")
int8 = dtype(np.dtype("int8"), "int8")
uint8 = dtype(np.dtype("uint8"), "uint8")
bool_ = dtype(np.dtype("bool"), "bool")
float = float32  # noqa: A001 - PyTorch's alias
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16

default_float = np.dtype("float32")

_ALL = [float32, float64, float16, int64, int32, int16, int8, uint8, bool_] + (
    [bfloat16] if _BF16 is not None else [])
_NAMES = {d.dtype: d.name for d in _ALL}
_WRAPPED = {d.dtype: d for d in _ALL}


def _by_name(name: str) -> dtype:
    return {d.name: d for d in _ALL + [bfloat16]}[name]


def wrap(np_dtype: np.dtype) -> Any:
    """The engine dtype standing for a NumPy dtype (the NumPy dtype itself if it has none)."""
    return _WRAPPED.get(np_dtype, np_dtype)


def dtype_name(dt: np.dtype) -> str:
    return _NAMES.get(dt, str(dt))


def dtype_repr(dt: np.dtype) -> str:
    """How PyTorch code spells the dtype (``engine.float32``)."""
    return "engine." + dtype_name(dt)


def as_dtype(spec: Any) -> np.dtype:
    """Accept an engine dtype, a NumPy dtype/type or a name ("float32", "long", ...)."""
    if spec is None:
        return default_float
    if isinstance(spec, dtype):
        if spec.dtype is None:
            raise TypeError(_BFLOAT16_MISSING)
        return spec.dtype
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
