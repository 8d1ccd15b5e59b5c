"""Weights files: safetensors and npz with PyTorch ``state_dict`` names, read and written.

The names are those of the compiled model (``conv1.weight``, ``bn1.running_mean``,
``lstm1.weight_ih_l0``), which the generated PyTorch module shares, so a file written here loads
with ``model.load_state_dict(safetensors.torch.load_file(path))`` and a state dict saved by
PyTorch for the same graph initialises the engine model (fine-tuning).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_bytes
from .._readers import read_npz, read_safetensors
from ..dtypes import dtype_name
from ..errors import FileFormatError
from .errors import WeightsError

__all__ = ["FORMATS", "atomic_write_bytes", "check_state", "expected_state", "format_of",
           "load_weights", "read_weights", "save_weights", "state_differences",
           "to_numpy_state"]

FORMATS = ("safetensors", "npz")


def to_numpy_state(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """An engine (or NumPy) state dict as contiguous NumPy arrays on the host."""
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        out[key] = np.require(arr, requirements="C")  # (ascontiguousarray makes 0-d 1-d)
    return out


def format_of(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise WeightsError(f"unknown weights format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise WeightsError(f"{path}: cannot tell the weights format from the extension "
                           f"{Path(path).suffix or '(none)'}; use .safetensors or .npz")
    return suffix


def save_weights(state: Mapping[str, Any], path: str | os.PathLike[str],
                 fmt: str | None = None, metadata: dict[str, str] | None = None) -> Path:
    """Write ``state`` as safetensors or npz (by ``fmt`` or the extension), atomically."""
    fmt = format_of(path, fmt)
    arrays = to_numpy_state(state)
    if fmt == "safetensors":
        import safetensors.numpy  # noqa: PLC0415

        data = safetensors.numpy.save(arrays, metadata=metadata)
    else:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
    atomic_write_bytes(path, data)
    return Path(path)


def read_weights(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors or .npz file; WeightsError that names the file (and the
    tensor or member at fault) otherwise. BF16 and FP8 safetensors arrive as float32; npz
    members must be plain numeric arrays (nothing is unpickled)."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: no such weights file")
    fmt = format_of(p)
    try:
        if fmt == "safetensors":
            return read_safetensors(p)[1]
        return read_npz(p)[1]
    except FileFormatError as exc:
        raise WeightsError(str(exc)) from None  # it names the file and the entry
    except OSError as exc:
        raise WeightsError(f"{p}: cannot read the file ({exc.strerror or exc})") from None


def state_differences(expected: Mapping[str, tuple[int, ...]],
                      given: Mapping[str, tuple[int, ...]]) -> tuple[list[str], list[str],
                                                                     list[str]]:
    """``(names whose shapes differ, names missing from given, names given but not expected)``
    of two ``{name: shape}`` maps: what every "does this state dict fit?" message lists."""
    wrong = [k for k in expected if k in given and tuple(given[k]) != tuple(expected[k])]
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    return wrong, missing, unexpected


def check_state(expected: Mapping[str, tuple[tuple[int, ...], str]],
                given: Mapping[str, np.ndarray], source: str = "the weights") -> None:
    """Raise WeightsError listing every missing, unexpected and mis-shaped tensor."""
    wrong, missing, unexpected = state_differences(
        {k: shape for k, (shape, _) in expected.items()},
        {k: tuple(v.shape) for k, v in given.items()})
    if not (missing or unexpected or wrong):
        return
    parts = []
    if wrong:
        parts.append("wrong shape: " + ", ".join(
            f"{k} {tuple(given[k].shape)} (the graph needs {expected[k][0]})" for k in wrong))
    if missing:
        parts.append("missing: " + ", ".join(missing))
    if unexpected:
        parts.append("unexpected: " + ", ".join(unexpected))
    hint = ""
    if unexpected and all(k.startswith("module.") for k in unexpected):
        hint = " (names start with 'module.': save model.module.state_dict() instead)"
    raise WeightsError(f"{source} do not match the graph: " + "; ".join(parts) + hint)


def expected_state(model: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    return {k: (tuple(v.shape), dtype_name(v.dtype)) for k, v in model.state_dict().items()}


def load_weights(model: Any, source: str | os.PathLike[str] | Mapping[str, Any]) -> Any:
    """Copy the tensors of ``source`` (a file or a state dict, e.g. one PyTorch saved) into
    ``model``, after checking every name and shape; returns the model."""
    name = f"{source}" if isinstance(source, str | os.PathLike) else "the state dict"
    given = read_weights(source) if isinstance(source, str | os.PathLike) else \
        to_numpy_state(source)
    expected = expected_state(model)
    check_state(expected, given, name)
    from ..tensor import from_numpy  # noqa: PLC0415

    state = {}
    for k, arr in given.items():
        dtype = np.dtype(expected[k][1])
        state[k] = from_numpy(np.require(arr.astype(dtype, copy=False), requirements="C"))
    model.load_state_dict(state)
    return model
