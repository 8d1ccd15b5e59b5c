"""PyTorch's top-level functions (``torch.mm``, ``torch.einsum``, ``torch.cdist`` ...).

Most are the free-function form of a Tensor method (``method_function``); the rest combine
tensors (``einsum``, ``tensordot``, ``meshgrid``, ``hstack``...) or draw random numbers. Every
function takes PyTorch's ``out=`` (``with_out``): the result is written into ``out``, which is
resized when its shape differs, as PyTorch does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import dtypes, random
from ._backend import get_device
from .autograd.grad_mode import is_grad_enabled
from .ops import linalg as LA
from .tensor import Tensor, tensor
from .tensor import where as _where3


def _write_out(out: Any, result: Any) -> Any:
    if isinstance(out, tuple | list):
        return type(out)(_write_out(o, r) for o, r in zip(out, result))
    if not isinstance(out, Tensor):
        raise TypeError(f"out= must be a Tensor, got {type(out).__name__}")
    if out.requires_grad and is_grad_enabled():
        raise RuntimeError("functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad")
    src = result._data
    if src.dtype.kind == "f" and out._data.dtype.kind != "f":
        raise RuntimeError(f"result type {dtypes.dtype_name(src.dtype)} can't be cast to the "
                           f"desired output type {dtypes.dtype_name(out._data.dtype)}")
    if tuple(out.shape) != tuple(result.shape):  # PyTorch resizes out to the result
        out._data = src.astype(out._data.dtype, copy=True)
    else:
        out._device.xp.copyto(out._data, src, casting="unsafe")
    out._vc.value += 1
    return out


def with_out(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with PyTorch's ``out=`` keyword."""

    @functools.wraps(fn)
    def wrapper(*args: Any, out: Any = None, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        return result if out is None else _write_out(out, result)

    return wrapper


def method_function(name: str) -> Callable[..., Any]:
    """The free-function form of ``Tensor.<name>``: the tensor may also come as ``input=``."""

    def fn(*args: Any, **kwargs: Any) -> Any:
        if args:
            t, rest = args[0], args[1:]
        elif "input" in kwargs:
            t, rest = kwargs.pop("input"), ()
        else:
            raise TypeError(f"{name}() missing the input tensor")
        if not isinstance(t, Tensor):
            t = tensor(t)
        return getattr(t, name)(*rest, **kwargs)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = f"Free-function form of ``Tensor.{name}``."
    return with_out(fn)


METHOD_FUNCTIONS = (
    "exp", "log", "sqrt", "rsqrt", "abs", "sign", "sin", "cos", "tanh", "sigmoid", "relu", "pow",
    "clamp", "clip", "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "var",
    "std", "prod", "logsumexp", "reshape", "flatten", "transpose", "permute", "squeeze",
    "unsqueeze", "split", "chunk", "matmul", "softmax", "log_softmax", "add", "sub", "mul", "div",
    "isnan", "isfinite", "t", "clone", "detach", "numel", "all", "any", "eq", "ne", "lt", "le",
    "gt", "ge", "norm", "mm", "bmm", "dot", "mv", "outer", "addmm", "log1p", "expm1", "floor",
    "ceil",
    "trunc", "frac", "round", "square", "neg", "negative", "reciprocal", "erf", "isinf",
    "isneginf", "isposinf", "isclose", "tril", "triu", "gather", "scatter", "scatter_add",
    "index_select", "masked_select", "masked_fill", "topk", "sort", "argsort", "kthvalue",
    "cumsum", "cumprod", "unique", "nonzero", "argwhere", "narrow", "roll", "flip", "fliplr",
    "flipud", "diag", "trace", "allclose", "equal", "count_nonzero", "bincount", "histc",
    "unbind", "lerp", "addcmul", "addcdiv", "clamp_min", "clamp_max", "log2", "log10",
    "logical_not", "maximum", "minimum", "expand_as", "repeat_interleave", "subtract",
    "multiply", "divide", "true_divide", "floor_divide", "remainder", "fmod",
)
# The engine's name for the method where PyTorch's free function has another.
_ALIASES = {"subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div"}


def where(condition: Any, input: Any = None, other: Any = None) -> Any:  # noqa: A002
    """``where(cond, a, b)`` elementwise; ``where(cond)`` is ``cond.nonzero(as_tuple=True)``."""
    if input is None and other is None:
        cond = condition if isinstance(condition, Tensor) else tensor(condition)
        return cond.nonzero(as_tuple=True)
    return _where3(condition, input, other)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, as ``torch.einsum`` (operands may also come as one list)."""
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    ts = [o if isinstance(o, Tensor) else tensor(o) for o in operands]
    dt = ts[0].dtype
    for t in ts[1:]:
        if t.dtype != dt:
            raise RuntimeError(f"einsum(): expected all operands of one dtype, got {dt} and "
                               f"{t.dtype}")
    ins, out = LA.parse_einsum(equation, [tuple(t.shape) for t in ts])
    return LA.Einsum.apply(*ts, ins=ins, out=out)


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    """Contract ``dims`` dimensions: the last ``dims`` of ``a`` with the first of ``b``, or the
    listed pairs."""
    if isinstance(dims, int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(da, db):
        sb[j % b.ndim] = sa[i % a.ndim]
    keep = [c for k, c in enumerate(sa) if k not in {i % a.ndim for i in da}] + \
        [c for k, c in enumerate(sb) if k not in {j % b.ndim for j in db}]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(keep)}", a, b)


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [t.reshape(-1) for t in tensors]
    shape = [t.shape[0] for t in ts]
    if indexing == "xy" and len(ts) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, t in enumerate(ts):
        axis = i
        if indexing == "xy" and len(ts) >= 2 and i < 2:
            axis = 1 - i
        view = [1] * len(ts)
        view[axis] = t.shape[0]
        out.append(t.reshape(view).expand(shape))
    return tuple(out)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: Any = None) -> Tensor:
    """Pairwise p-norm distances between the rows of ``x1`` (…, P, M) and ``x2`` (…, R, M)."""
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return diff.norm(p=p, dim=-1)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    from .creation import cat  # noqa: PLC0415

    ts = [t.reshape(-1) if t.ndim == 0 else t for t in tensors]
    return cat(ts, dim=0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    from .creation import cat  # noqa: PLC0415

    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], dim=0)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype: Any = None,
             device: Any = None, requires_grad: bool = False) -> Tensor:
    from .creation import linspace  # noqa: PLC0415

    exps = linspace(start, end, steps, dtype=dtypes.float64, device=device)
    out = (base ** exps).to(dtypes.as_dtype(dtype))
    return out.requires_grad_(True) if requires_grad else out


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator: Any = None) -> Tensor:
    """Draw indices with probability proportional to the rows of ``input`` (1-D or 2-D)."""
    probs = np.asarray(input.detach().cpu()._data, dtype=np.float64)
    rows = probs.reshape(-1, probs.shape[-1])
    if (rows < 0).any() or not np.isfinite(rows).all():
        raise RuntimeError("multinomial: probability tensor contains either inf, nan or "
                           "element < 0")
    gen = random.generator(get_device("cpu"), generator)
    out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for r, row in enumerate(rows):
        total = row.sum()
        if total <= 0:
            raise RuntimeError("multinomial: invalid multinomial distribution (sum of "
                               "probabilities <= 0)")
        if not replacement and num_samples > np.count_nonzero(row):
            raise RuntimeError("multinomial: cannot sample n_sample > prob_dist.size(-1) "
                               "samples without replacement")
        out[r] = gen.choice(row.shape[0], size=num_samples, replace=replacement, p=row / total)
    result = out.reshape(probs.shape[:-1] + (num_samples,))
    return Tensor._make(result, get_device("cpu")).to(input.device)


def normal(mean: Any, std: Any = 1.0, size: Any = None, *, generator: Any = None,
           dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Normal samples with elementwise ``mean`` and ``std`` (tensors or numbers)."""
    from .creation import randn  # noqa: PLC0415

    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        shape = np.broadcast_shapes(tuple(getattr(mean, "shape", ())),
                                    tuple(getattr(std, "shape", ())))
        noise = randn(shape, dtype=ref.dtype, device=ref.device, generator=generator)
        return (noise * std + mean).detach()
    if size is None:
        raise TypeError("normal(mean, std) with numbers needs size=")
    out = randn(size, dtype=dtype, device=device, generator=generator) * std + mean
    return out.requires_grad_(True) if requires_grad else out


def bernoulli(input: Tensor, p: Any = None, *, generator: Any = None) -> Tensor:  # noqa: A002
    """1 with the probability given by each element of ``input`` (or ``p``), else 0."""
    out = Tensor._make(input._device.xp.zeros(input.shape, dtype=input._data.dtype),
                       input._device)
    return out.bernoulli_(input if p is None else p, generator=generator)


def dist(input: Tensor, other: Tensor, p: float = 2.0) -> Tensor:  # noqa: A002
    return (input - other).norm(p=p)


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    shape = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    return tuple(t.expand(shape) for t in tensors)


def is_floating_point(input: Tensor) -> bool:  # noqa: A002
    return input.is_floating_point()
