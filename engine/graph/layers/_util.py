"""Small helpers shared by the layer declarations (dims, keyword filtering, ONNX reshapes)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeRuleError
from ..registry import TensorType


def kw(p: dict[str, Any], /, **torch_defaults: Any) -> dict[str, Any]:
    """The parameters of ``p`` that differ from PyTorch's defaults: generated code then reads like
    code a person writes (``nn.Conv2d(1, 6, kernel_size=5, padding=2)``)."""
    return {k: p[k] for k, d in torch_defaults.items() if p[k] != d}


def full_dim(dim: int, tt: TensorType, what: str) -> int:
    """A PyTorch dim (counting the batch dim) as a non-negative index; the batch dim is refused
    because every layer here works sample by sample."""
    rank = len(tt.shape) + 1
    if not -rank <= dim < rank:
        raise ShapeRuleError(f"{what}={dim} is out of range for input {tt} "
                             f"(valid: 1..{rank - 1} or -{rank - 1}..-1)")
    d = dim % rank
    if d == 0:
        raise ShapeRuleError(f"{what}={dim} is the batch dimension of {tt}; "
                             f"use 1..{rank - 1} (or a negative dim)")
    return d


def onnx_reshape(ctx: Any, x: str, shape: tuple[int, ...], hint: str) -> str:
    """Reshape keeping the (dynamic) batch dim: ONNX's 0 copies the input's size."""
    return ctx.node("Reshape", [x, ctx.const(np.array((0, *shape), np.int64), hint + "_shape")],
                    hint=hint)


def conv_out(size: int, k: int, s: int, p: int, d: int, ceil: bool = False) -> int:
    """Output length of a convolution or pooling window sweep (PyTorch's formula)."""
    span = size + 2 * p - d * (k - 1) - 1
    if ceil:
        n = -(-span // s) + 1
        if (n - 1) * s >= size + p:  # the last window must start inside the input or left pad
            n -= 1
        return n
    return span // s + 1
