"""``engine.linalg``: PyTorch's vector and matrix norms (``torch.linalg.norm`` ...)."""

from __future__ import annotations

from typing import Any

from .tensor import Tensor


def vector_norm(x: Tensor, ord: Any = 2, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
                dtype: Any = None) -> Tensor:
    """The ``ord``-norm of ``x`` taken as a vector (over ``dim``, or all elements)."""
    return x.norm(p=ord, dim=dim, keepdim=keepdim, dtype=dtype)


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1),  # noqa: A002, N803
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    if ord != "fro":
        raise NotImplementedError(f"matrix_norm(ord={ord!r}): only 'fro' is supported")
    return A.norm(p=2, dim=dim, keepdim=keepdim, dtype=dtype)


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *,  # noqa: A002, N803
         dtype: Any = None) -> Tensor:
    """With ``ord`` None the 2-norm of the flattened tensor (of each vector along ``dim``)."""
    if ord is None or (isinstance(dim, int) or (dim is None and A.ndim == 1)):
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    return matrix_norm(A, ord, (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
