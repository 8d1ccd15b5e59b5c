"""LayerForge's deep-learning engine: PyTorch's names and semantics on NumPy (CPU) and CuPy (GPU).

Import it as ``import engine``; ``engine.tensor``, ``engine.nn``, ``engine.optim`` and
``engine.data`` work as their PyTorch namesakes do. Qt is never imported here.
"""

from __future__ import annotations

from typing import Any

from . import (
    _blas_env,  # noqa: F401, I001 - first: it must run before NumPy starts OpenBLAS
    _functions,  # noqa: E402 - needs Tensor
    _malloc,
    autograd,
    cuda,
    dtypes,
)
from ._backend import Device, device, get_default_device, get_device, set_default_device
from ._compat import (  # noqa: E402
    finfo,
    get_default_dtype,
    get_float32_matmul_precision,
    get_num_threads,
    iinfo,
    inference_mode,
    is_inference_mode_enabled,
    legacy_types,
    set_default_dtype,
    set_float32_matmul_precision,
    set_num_threads,
)
from ._functions import (  # noqa: E402
    bernoulli,
    broadcast_tensors,
    cdist,
    dist,
    einsum,
    hstack,
    is_floating_point,
    logspace,
    meshgrid,
    multinomial,
    normal,
    tensordot,
    vstack,
    where,
)
from ._printing import get_printoptions, set_printoptions
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
    randint_like,
    randn,
    randn_like,
    randperm,
    stack,
    zeros,
    zeros_like,
)
from .dtypes import (
    bfloat16,
    bool_,
    double,
    dtype,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from .errors import DeviceError, EngineError, OutOfMemoryError, ShapeError
from .random import Generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .size import Size
from .tensor import Tensor, as_tensor, from_numpy, maximum, minimum, tensor

__version__ = "0.1.0"
_malloc.tune()
bool = bool_  # noqa: A001 - PyTorch's name
float = float32  # noqa: A001
int = int32  # noqa: A001


_SUBPACKAGES = ("nn", "optim", "data", "distributed", "export", "graph", "parallel", "training",
                "serialization", "utils", "testing", "linalg", "multiprocessing", "accelerator",
                "backends")


def __getattr__(name: str) -> Any:
    """``engine.nn``, ``engine.optim``, ... without importing them explicitly, as with ``torch``;
    loaded on first use so ``import engine`` stays light."""
    if name in _SUBPACKAGES:
        import importlib  # noqa: PLC0415

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


for _name in _functions.METHOD_FUNCTIONS:
    globals()[_name] = _functions.method_function(_functions._ALIASES.get(_name, _name))
for _name, _factory in (("zeros", zeros), ("ones", ones), ("empty", empty), ("full", full),
                        ("arange", arange), ("linspace", linspace), ("eye", eye), ("rand", rand),
                        ("randn", randn), ("randint", randint), ("randperm", randperm),
                        ("cat", cat), ("stack", stack)):
    globals()[_name] = _functions.with_out(_factory)
concat = concatenate = globals()["cat"]
globals().update(legacy_types(cuda=False))
del _name, _factory


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def save(obj: Any, f: Any, **kwargs: Any) -> None:
    """Save tensors, state dicts or whole checkpoints (nested dicts, lists, numbers...) to a path
    or a binary file object, in the safetensors format; see ``engine.serialization``."""
    from .serialization import save as _save  # noqa: PLC0415

    _save(obj, f, **kwargs)


def load(f: Any, map_location: Any = None, weights_only: bool | None = None,
         **kwargs: Any) -> Any:
    """What ``save`` wrote (or any safetensors file), from a path or a binary file object.

    ``weights_only`` is accepted for PyTorch's scripts: loading never runs code here, whatever
    its value (safetensors holds no code)."""
    from .serialization import load as _load  # noqa: PLC0415

    return _load(f, map_location=map_location)


# Subpackages last: they import the names above.
from . import cuda as _cuda_module  # noqa: E402
from . import nn, optim  # noqa: E402

for _type_name, _type in legacy_types(cuda=True).items():
    setattr(_cuda_module, _type_name, _type)
del _type_name, _type
