"""One flat vector of all parameters, and back (for line searches, second-order methods)."""

from __future__ import annotations

from collections.abc import Iterable

from ... import creation
from ...autograd.grad_mode import no_grad
from ...errors import ShapeError
from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Concatenate the flattened parameters (differentiable, like PyTorch's)."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: no parameters given")
    return creation.cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters, in order."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected vec to be a Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise ShapeError(
            f"vector_to_parameters: vec has shape {tuple(vec.shape)} but the parameters hold "
            f"{total} elements; give a 1-D vector of that length"
        )
    offset = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p._data[...] = vec._data[offset:offset + n].reshape(p.shape)
            p._vc.value += 1
            offset += n
