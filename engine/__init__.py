"""LayerForge's deep-learning engine: PyTorch's names and semantics on NumPy (CPU) and CuPy (GPU).

Import it as ``import engine``; ``engine.tensor``, ``engine.nn``, ``engine.optim`` and
``engine.data`` work as their PyTorch namesakes do. Qt is never imported here.
"""

from __future__ import annotations

from typing import Any

from . import _malloc, autograd, cuda, dtypes
from ._backend import Device, get_device
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (
    arange,
    cat,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    stack,
    zeros,
    zeros_like,
)
from .dtypes import (
    bool_,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    uint8,
)
from .errors import DeviceError, EngineError, OutOfMemoryError, ShapeError
from .random import get_rng_state, initial_seed, manual_seed, set_rng_state
from .tensor import Tensor, as_tensor, from_numpy, maximum, minimum, tensor, where

__version__ = "0.1.0"
_malloc.tune()
bool = bool_  # noqa: A001 - PyTorch's name
float = float32  # noqa: A001
int = int32  # noqa: A001


def device(spec: Any) -> Device:
    return get_device(spec)


_SUBPACKAGES = ("nn", "optim", "data", "distributed", "export", "graph", "parallel", "training",
                "serialization")


def __getattr__(name: str) -> Any:
    """``engine.nn``, ``engine.optim``, ... without importing them explicitly, as with ``torch``;
    loaded on first use so ``import engine`` stays light."""
    if name in _SUBPACKAGES:
        import importlib  # noqa: PLC0415

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


def _method(name: str) -> Any:
    def fn(t: Tensor, *args: Any, **kwargs: Any) -> Any:
        return getattr(t, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"Free-function form of ``Tensor.{name}``."
    return fn


for _name in ("exp", "log", "sqrt", "rsqrt", "abs", "sign", "sin", "cos", "tanh", "sigmoid",
              "relu", "pow", "clamp", "clip", "sum", "mean", "max", "min", "amax", "amin",
              "argmax", "argmin", "var", "std", "prod", "logsumexp", "reshape", "flatten",
              "transpose", "permute", "squeeze", "unsqueeze", "split", "chunk", "matmul",
              "softmax", "log_softmax", "add", "sub", "mul", "div", "isnan", "isfinite", "t",
              "clone", "detach", "numel", "all", "any", "eq", "ne", "lt", "le", "gt", "ge"):
    globals()[_name] = _method(_name)
del _name


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def save(obj: Any, path: Any) -> None:
    """Save a state dict (tensors, possibly nested) atomically; see ``engine.serialization``."""
    from .serialization import save as _save  # noqa: PLC0415

    _save(obj, path)


def load(path: Any, map_location: Any = None) -> Any:
    from .serialization import load as _load  # noqa: PLC0415

    return _load(path, map_location=map_location)


# Subpackages last: they import the names above.
from . import nn, optim  # noqa: E402
