"""``engine.nn.functional``: PyTorch's functional API (``import engine.nn.functional as F``).

Each op is one ``Function`` with its forward and backward side by side. The ones on the training
hot path are fused and avoid temporaries: ``linear`` adds the bias into the GEMM's output in
place, ``softmax``/``log_softmax`` each make one pass of allocations, and ``cross_entropy`` (in
``_functional_loss``) is a single node. Losses live in ``_functional_loss``, convolution and
friends in ``_functional_vision``; both are re-exported here.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import random
from .._backend import xp_of
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..errors import ShapeError
from ..ops import math as M
from ..ops.util import normalize_dims, scatter_add
from ..tensor import Tensor
from ._functional_util import _Op, _row_max, _row_sum, _sigmoid

__all__ = [
    "dropout", "elu", "gelu", "leaky_relu", "linear", "log_softmax", "one_hot", "pad", "relu",
    "relu_", "sigmoid", "silu", "softmax", "tanh",
]


# --------------------------------------------------------------------- linear


class _Linear(_Op):
    """``x @ W.T + b`` as one node. N-D inputs are folded to 2-D so each pass is one GEMM; the
    bias is added into the GEMM's output in place; grad_x is computed only when x needs it (it
    never does for the first layer)."""

    saves = (0, 1)

    def forward(self, x: Any, w: Any, b: Any) -> Any:
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        out = x2 @ w.T
        if b is not None:
            out += b
        needs = self.needs
        if needs[0]:
            self.w = w
            self.xshape = x.shape
        if needs[1]:
            self.x2 = x2
        if not (needs[0] and needs[1]):  # version-check only the inputs kept for backward
            self.saves = (0,) if needs[1] else (1,) if needs[0] else ()
        if x.ndim != 2:
            out = out.reshape(x.shape[:-1] + (w.shape[0],))
        return out

    def backward(self, g: Any) -> tuple[Any, Any, Any]:
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        needs = self.needs
        gx = (g2 @ self.w).reshape(self.xshape) if needs[0] else None
        gw = None
        if needs[1]:
            dest = self.grad_destination(1)
            if dest is None:
                gw = g2.T @ self.x2
            else:  # straight into DDP's bucket, the scale on the smaller factor
                out, scale = dest
                gs, xs = g2, self.x2
                if scale != 1:
                    if gs.size <= xs.size:
                        gs = gs * scale
                    else:
                        xs = xs * scale
                gw = xp_of(g2).matmul(gs.T, xs, out=out)
        gb = None
        if needs[2]:
            dest = self.grad_destination(2)
            if dest is None:
                gb = g2.sum(axis=0)
            else:
                out, scale = dest
                gb = xp_of(g2).multiply(g2.sum(axis=0), scale, out=out)
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``; ``weight`` is ``(out_features, in_features)``.

    Shape: input ``(*, in_features)`` -> output ``(*, out_features)``.
    """
    shape = input._data.shape
    wshape = weight._data.shape
    if len(wshape) != 2:
        raise ShapeError(
            f"linear: weight must be 2-D (out_features, in_features), got shape {tuple(wshape)}"
        )
    if not shape or shape[-1] != wshape[1]:
        got = shape[-1] if shape else "no"
        raise ShapeError(
            f"linear: input has {got} features (shape {tuple(shape)}) but weight expects "
            f"{wshape[1]} (in_features={wshape[1]}); fix the previous layer's output size or "
            f"in_features"
        )
    if input._data.dtype != weight._data.dtype:
        _dtype_mismatch("linear", input, weight)
    if bias is not None and bias._data.shape != (wshape[0],):
        raise ShapeError(
            f"linear: bias has shape {tuple(bias.shape)} but weight has {wshape[0]} output "
            f"features; the bias must have shape ({wshape[0]},)"
        )
    return _Linear.apply(input, weight, bias)


def _dtype_mismatch(name: str, input: Tensor, weight: Tensor) -> None:
    from ..dtypes import dtype_name  # noqa: PLC0415

    a, b = dtype_name(input.dtype), dtype_name(weight.dtype)
    fix = ".float()" if weight.dtype == np.float32 else f".to(engine.{b})"
    raise TypeError(
        f"{name}: input is {a} but the weight is {b}; they must match. Fix: convert the input "
        f"with input{fix}, or the model with model.to(engine.{a})"
    )


# --------------------------------------------------------------------- activations


def _inplace_or_not(fn: type[Function], input: Tensor, args: tuple[Any, ...], inplace: bool,
                    name: str) -> Tensor:
    """Apply ``fn``; with ``inplace`` write the result into ``input`` (as PyTorch does), keeping
    autograd correct through ``Tensor._inplace`` when a graph is being recorded."""
    if not inplace:
        return fn.apply(input, *args)
    if is_grad_enabled() and input.requires_grad:
        return input._inplace(fn, *args, name=name)
    out = fn.apply(input, *args)
    if out._data is not input._data:  # ops that can write their result in place (Relu) did
        input._device.xp.copyto(input._data, out._data, casting="unsafe")
    input._vc.value += 1
    return input


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    if not inplace:
        return M.Relu.apply(input)
    return _inplace_or_not(M.Relu, input, (True,), inplace, "relu_")


def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


class _LeakyRelu(_Op):
    def forward(self, x: Any, slope: float) -> Any:
        xp = xp_of(x)
        pos = x > 0
        if self.needs[0]:
            self.pos, self.slope = pos, slope
        return xp.where(pos, x, x * x.dtype.type(slope))

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        return xp.where(self.pos, g, g * g.dtype.type(self.slope)), None


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _inplace_or_not(_LeakyRelu, input, (negative_slope,), inplace, "leaky_relu_")


class _Elu(_Op):
    def forward(self, x: Any, alpha: float) -> Any:
        xp = xp_of(x)
        pos = x > 0
        neg_part = xp.expm1(xp.minimum(x, 0))  # minimum: no overflow in the unused branch
        neg_part *= x.dtype.type(alpha)
        if self.needs[0]:
            self.pos, self.alpha, self.neg_part = pos, alpha, neg_part
        return xp.where(pos, x, neg_part)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        # d/dx alpha*(exp(x)-1) = alpha*exp(x) = neg_part + alpha
        return xp.where(self.pos, g, g * (self.neg_part + g.dtype.type(self.alpha))), None


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _inplace_or_not(_Elu, input, (alpha,), inplace, "elu_")


class _Silu(_Op):
    saves = (0,)

    def forward(self, x: Any) -> Any:
        s = _sigmoid(x)
        if self.needs[0]:
            self.x, self.s = x, s
        return x * s

    def backward(self, g: Any) -> tuple[Any]:
        s = self.s
        # d/dx x*s(x) = s * (1 + x * (1 - s))
        d = 1 - s
        d *= self.x
        d += 1
        d *= s
        d *= g
        return (d,)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return _inplace_or_not(_Silu, input, (), inplace, "silu_")


# Cephes' rational approximations for erf/erfc (double precision), used where the array module
# has no erf (NumPy). CuPy provides its own.
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_S = (2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)


def _poly(x: Any, coefs: tuple[float, ...], monic: bool = False) -> Any:
    r = x + coefs[0] if monic else x * 0 + coefs[0]
    for c in coefs[1:]:
        r = r * x + c
    return r


def erf(x: Any) -> Any:
    """Vectorised erf of a raw array (float32/float64 accurate to the dtype's precision)."""
    xp = xp_of(x)
    if xp is not np:
        import cupyx.scipy.special  # noqa: PLC0415 - GPU only

        return cupyx.scipy.special.erf(x)
    dtype = x.dtype
    xd = x.astype(np.float64)
    ax = np.minimum(np.abs(xd), 30.0)  # erfc(30) is 0 in double: clipping avoids overflow
    z = ax * ax
    z1 = np.minimum(z, 1.0)  # the |x| <= 1 branch, evaluated where it is used
    small = np.copysign(ax, xd) * _poly(z1, _ERF_T) / _poly(z1, _ERF_U, monic=True)
    e = np.exp(-z)
    mid = e * _poly(ax, _ERFC_P) / _poly(ax, _ERFC_Q, monic=True)
    far = e * _poly(ax, _ERFC_R) / _poly(ax, _ERFC_S, monic=True)
    erfc = np.where(ax < 8, mid, far)
    big = np.copysign(1 - erfc, xd)
    return np.where(ax <= 1, small, big).astype(dtype, copy=False)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


class _Gelu(_Op):
    saves = (0,)

    def forward(self, x: Any, approximate: str) -> Any:
        xp = xp_of(x)
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            inner = x * x
            inner *= 0.044715
            inner += 1
            inner *= x
            inner *= _SQRT_2_OVER_PI
            t = xp.tanh(inner)
            if self.needs[0]:
                self.t = t
            out = t + 1
        else:
            cdf2 = erf(x * _INV_SQRT_2)
            out = cdf2 + 1  # 2 * Phi(x)
            if self.needs[0]:
                self.cdf = out * 0.5
        out *= x
        out *= 0.5
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        x = self.x
        if self.approximate == "tanh":
            t = self.t
            inner_d = x * x
            inner_d *= 3 * 0.044715
            inner_d += 1
            inner_d *= _SQRT_2_OVER_PI
            d = 1 - t * t
            d *= inner_d
            d *= x
            d += 1 + t
            d *= 0.5
        else:
            pdf = xp.exp(x * x * -0.5)
            pdf *= _INV_SQRT_2PI
            d = pdf * x
            d += self.cdf
        d *= g
        return (d,)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian Error Linear Unit, exact (``approximate='none'``) or tanh-approximated."""
    if approximate not in ("none", "tanh"):
        raise ValueError(
            f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}"
        )
    return _Gelu.apply(input, approximate=approximate)


# --------------------------------------------------------------------- softmax family


def _softmax_dim(name: str, ndim: int, dim: int | None) -> int:
    if dim is None:
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated. Change the call to "
            f"include dim=X as an argument.", stacklevel=3,
        )
        return 0 if ndim in (0, 1, 3) else 1
    return normalize_dims(dim, ndim)[0] if ndim else 0


def _max_along(x: Any, dim: int) -> Any:
    return _row_max(x) if x.ndim == 2 and dim == 1 else x.max(axis=dim, keepdims=True)


def _sum_along(x: Any, dim: int) -> Any:
    return _row_sum(x).reshape(-1, 1) if x.ndim == 2 and dim == 1 else x.sum(axis=dim,
                                                                             keepdims=True)


class _Softmax(_Op):
    saves_output = True

    def forward(self, x: Any, dim: int) -> Any:
        xp = xp_of(x)
        y = x - _max_along(x, dim)
        xp.exp(y, out=y)
        y /= _sum_along(y, dim)
        self.y, self.dim = y, dim
        return y

    def backward(self, g: Any) -> tuple[Any, ...]:
        y = self.y
        gy = g * y
        gy -= y * _sum_along(gy, self.dim)
        return (gy,)


class _LogSoftmax(_Op):
    def forward(self, x: Any, dim: int) -> Any:
        xp = xp_of(x)
        out = x - _max_along(x, dim)
        e = xp.exp(out)
        s = _sum_along(e, dim)
        out -= xp.log(s)
        if self.needs[0]:
            e /= s
            self.p, self.dim = e, dim
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        return (g - self.p * _sum_along(g, self.dim),)


def _softmax_common(fn: type[Function], name: str, input: Tensor, dim: int | None,
                    dtype: Any) -> Tensor:
    if dtype is not None:
        input = input.to(dtype)
    elif input._data.dtype.kind != "f":
        input = input.float()
    d = _softmax_dim(name, input.ndim, dim)
    if input.ndim == 0:
        return fn.apply(input.reshape(1), dim=0).reshape(())
    return fn.apply(input, dim=d)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """``exp(x) / exp(x).sum(dim)``, computed stably (the max is subtracted first)."""
    return _softmax_common(_Softmax, "softmax", input, dim, dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None) -> Tensor:
    """``x - logsumexp(x, dim)``: use it (or cross_entropy) rather than ``softmax().log()``,
    which underflows to -inf."""
    return _softmax_common(_LogSoftmax, "log_softmax", input, dim, dtype)


# --------------------------------------------------------------------- dropout


class _Dropout(_Op):
    def forward(self, x: Any, keep: Any, scale: float) -> Any:
        out = x * keep
        out *= x.dtype.type(scale)
        if self.needs[0]:
            self.keep, self.scale = keep, scale
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        gx = g * self.keep
        gx *= g.dtype.type(self.scale)
        return gx, None, None


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (only when
    ``training``), so the expected activation is unchanged and evaluation needs no rescaling."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    dev = input.device
    if p == 1.0:
        keep = dev.xp.zeros(input.shape, dtype=bool)
        scale = 0.0
    else:
        keep = random.uniform(input.shape, 0.0, 1.0, np.dtype(np.float32), dev) >= p
        scale = 1.0 / (1.0 - p)
    return _inplace_or_not(_Dropout, input, (keep, scale), inplace, "dropout_")


# --------------------------------------------------------------------- one_hot, pad


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 tensor of shape ``(*tensor.shape, num_classes)`` with a 1 at each index."""
    arr = tensor._data
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"one_hot is only applicable to index tensors (integer dtype), got {arr.dtype}; "
            f"convert with .long()"
        )
    xp = xp_of(arr)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0:
            raise ValueError(f"one_hot: class values must be non-negative, found {lo}")
        if num_classes == -1:
            num_classes = hi + 1
        elif hi >= num_classes:
            raise ValueError(
                f"one_hot: class values must be smaller than num_classes={num_classes}, "
                f"found {hi}; raise num_classes or fix the labels"
            )
    elif num_classes == -1:
        raise ValueError("one_hot: can not infer the number of classes from an empty tensor; "
                         "pass num_classes")
    out = (arr[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor._make(out, tensor.device)


class _PadConstant(_Op):
    def forward(self, x: Any, widths: tuple[tuple[int, int], ...], value: float) -> Any:
        xp = xp_of(x)
        crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(widths, x.shape))
        grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in widths)
        inner = x[crop]
        self.shape, self.crop = x.shape, crop
        self.inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(grow, inner.shape))
        return xp.pad(inner, grow, mode="constant", constant_values=value)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        gx = xp.zeros(self.shape, dtype=g.dtype)
        gx[self.crop] = g[self.inner]
        return (gx,)


class _PadIndex(_Op):
    """Reflect / replicate / circular padding as a gather along each padded dim; the backward
    scatters (accumulating the elements that were copied more than once)."""

    def forward(self, x: Any, indices: tuple[tuple[int, Any], ...]) -> Any:
        xp = xp_of(x)
        self.steps = []
        for d, idx in indices:
            self.steps.append((d, idx, x.shape[d]))
            x = xp.take(x, xp.asarray(idx), axis=d)
        return x

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = xp_of(g)
        for d, idx, n in reversed(self.steps):
            shape = list(g.shape)
            shape[d] = n
            acc = xp.zeros(shape, dtype=g.dtype)
            scatter_add(xp, acc, (slice(None),) * d + (xp.asarray(idx),), g)
            g = acc
        return (g,)


def _pad_index(mode: str, n: int, lo: int, hi: int, d: int, shape: tuple[int, ...]) -> Any:
    pos = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(pos, 0, n - 1)
    if mode == "circular":
        if lo > n or hi > n:
            raise ValueError(
                f"pad: circular padding ({lo}, {hi}) of dimension {d} is larger than its size "
                f"{n} (input shape {shape})"
            )
        return pos % n
    if lo >= n or hi >= n:
        raise ValueError(
            f"pad: reflect padding ({lo}, {hi}) of dimension {d} must be smaller than its size "
            f"{n} (input shape {shape}); use mode='replicate' or pad less"
        )
    period = 2 * (n - 1) if n > 1 else 1
    pos = np.abs(pos) % period
    return np.where(pos >= n, period - pos, pos)


def pad(input: Tensor, pad: tuple[int, ...] | list[int], mode: str = "constant",
        value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad = (last_left, last_right, prev_left, ...)``.

    Modes: ``constant`` (negative amounts crop), ``reflect``, ``replicate``, ``circular``.
    """
    pad = tuple(int(p) for p in pad)
    ndim = input.ndim
    if len(pad) % 2:
        raise ValueError(f"pad: the padding length must be even (pairs per dim), got {pad}")
    if len(pad) // 2 > ndim:
        raise ValueError(
            f"pad: {len(pad) // 2} dims of padding given for a {ndim}-d input of shape "
            f"{tuple(input.shape)}"
        )
    pairs = [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]
    if mode == "constant":
        widths = [(0, 0)] * ndim
        for i, pr in enumerate(pairs):
            widths[ndim - 1 - i] = pr
        return _PadConstant.apply(input, widths=tuple(widths),
                                  value=0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(
            f"pad: unknown mode {mode!r}; use 'constant', 'reflect', 'replicate' or 'circular'"
        )
    if value:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    indices = []
    for i, (lo, hi) in enumerate(pairs):
        if lo < 0 or hi < 0:
            raise ValueError(f"pad: negative padding is only supported in constant mode, got "
                             f"{pad}")
        if lo or hi:
            d = ndim - 1 - i
            indices.append((d, _pad_index(mode, input.shape[d], lo, hi, d,
                                          tuple(input.shape))))
    if not indices:
        return input
    return _PadIndex.apply(input, indices=tuple(indices))


from . import _functional_vision  # noqa: E402
from ._functional_loss import *  # noqa: E402,F401,F403
from ._functional_loss import __all__ as _loss_all  # noqa: E402

__all__ += _loss_all + list(getattr(_functional_vision, "__all__", []))
from . import _functional_loss_more, _functional_more  # noqa: E402
from ._functional_loss_more import *  # noqa: E402,F401,F403
from ._functional_more import *  # noqa: E402,F401,F403
from ._functional_vision import *  # noqa: E402,F401,F403

__all__ += _functional_loss_more.__all__ + _functional_more.__all__
