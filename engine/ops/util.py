"""Helpers shared by the ops' backward passes."""

from __future__ import annotations

from typing import Any

from .._backend import xp_of


def sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """Reduce a broadcast gradient back to ``shape``: the one place broadcasting is undone."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    return g


def broadcast_grad(g: Any, shape: tuple[int, ...]) -> Any:
    """``g`` (with size-1 axes where a reduction removed them) spread back to ``shape``.

    Small results are materialised (NumPy's ``broadcast_to`` costs several microseconds of Python,
    more than filling a few thousand numbers); large ones stay zero-copy broadcast views.
    """
    if g.shape == shape:
        return g
    size = 1
    for s in shape:
        size *= s
    if size > 65536:
        return xp_of(g).broadcast_to(g, shape)
    out = xp_of(g).empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def normalize_dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    """``dim`` (None, int or tuple, negatives allowed) as a sorted tuple of axes, None for all."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(
                f"dimension out of range: got dim={d} for a tensor with {ndim} dimension(s) "
                f"(expected {-max(ndim, 1)}..{max(ndim, 1) - 1})"
            )
        out.append(d % max(ndim, 1))
    return tuple(sorted(set(out)))


def expand_reduced(g: Any, shape: tuple[int, ...], axes: tuple[int, ...] | None,
                   keepdim: bool) -> Any:
    """Re-insert reduced axes into ``g`` so it broadcasts against the input ``shape``."""
    if axes is None:
        return g.reshape((1,) * len(shape)) if len(shape) else g
    if not keepdim:
        g = g.reshape(tuple(1 if i in axes else s for i, s in enumerate(shape)))
    return g


def scatter_add(xp: Any, target: Any, index: Any, values: Any) -> None:
    """``target[index] += values`` with repeated indices accumulating (NumPy's ``add.at``)."""
    if xp.__name__ == "numpy":
        xp.add.at(target, index, values)
    else:
        import cupyx  # noqa: PLC0415 - GPU only

        cupyx.scatter_add(target, index, values)
