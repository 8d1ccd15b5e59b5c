"""``engine.save`` / ``engine.load``: state dicts and checkpoints in the safetensors format.

Why safetensors rather than pickle: loading a file can't run code, and a model's state dict
written here opens unchanged in PyTorch (``safetensors.torch.load_file``) and vice versa.

Layout: every tensor is stored under its dotted path (``"fc1.weight"`` for a model's state dict,
``"optimizer.state.0.exp_avg"`` inside a checkpoint), so a flat state dict keeps exactly its own
keys. The structure around the tensors (nesting, int vs str keys, order, tuples, numbers,
strings, None) is kept as JSON in the file's metadata under ``layerforge.tree``, so ``load``
rebuilds exactly what was saved. Files without that entry (written by other tools) load as a
flat ``{name: Tensor}`` dict; their BF16 and FP8 tensors (PyTorch's half-size floats, which
NumPy has no type for) arrive widened to float32. Every file is checked before it is read (see
``engine._readers``): a damaged or edited one raises ``engine.errors.FileFormatError`` (a
ValueError) naming the file and the entry.

Writes are atomic: the file is written to a temporary file in the same folder, flushed to disk
and renamed over the target, so a crash or error mid-write leaves the old file intact.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import safetensors.numpy

from ._atomic import atomic_write_bytes
from ._backend import CPU, Device, get_device, to_device_array
from ._readers import read_safetensors, short_repr
from .errors import FileFormatError
from .tensor import Tensor

__all__ = ["load", "save"]

FORMAT_KEY = "layerforge.format"
TREE_KEY = "layerforge.tree"
FORMAT_VERSION = "1"
_ROOT_TENSOR_KEY = "tensor"

# Node tags of the JSON tree. Containers are JSON objects with exactly one of these keys; every
# other JSON value (number, string, bool, null, list) is itself the saved value.
_TENSOR, _ARRAY, _DICT, _TUPLE = "$t", "$a", "$d", "$tu"
_JSON_KEY_TYPES = (str, int, float, bool, type(None))


def save(obj: Any, path: Any) -> None:
    """Save ``obj`` (a state dict, or a checkpoint dict nesting state dicts and plain values) to
    ``path`` atomically.

    Tensors (engine Tensors, NumPy or CuPy arrays; GPU data is copied to the host) are stored as
    safetensors tensors; numbers, strings, booleans, None, lists, tuples and dicts with str/int
    keys around them are kept in the metadata. Anything else raises TypeError.

    Example:
        >>> engine.save(model.state_dict(), "model.safetensors")
        >>> engine.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
        ...              "epoch": 3}, "checkpoint.safetensors")
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, (), arrays)
    metadata = {
        FORMAT_KEY: FORMAT_VERSION,
        TREE_KEY: json.dumps(tree, separators=(",", ":"), allow_nan=True),
    }
    data = safetensors.numpy.save(arrays, metadata=metadata)
    if hasattr(path, "write"):  # a binary file object (io.BytesIO, open(..., "wb"))
        path.write(data)
        return
    atomic_write_bytes(path, data)


def load(path: Any, map_location: Any = None) -> Any:
    """Load what ``save`` wrote (or any safetensors file) and rebuild its structure.

    Args:
        path: the file, or a binary file object to read from.
        map_location: the device tensors are placed on: None or ``"cpu"`` (default),
            ``"cuda"``, ``"cuda:N"`` or an engine Device (a function, PyTorch's
            ``lambda storage, loc: storage``, means the CPU).
    """
    device = _resolve_device(map_location)
    if hasattr(path, "read"):
        source: Any = path.read()
        name = getattr(path, "name", "<file object>")
    else:
        source = name = os.fspath(path)
        if not os.path.exists(source):
            raise FileNotFoundError(f"engine.load: no such file: {source!r}")
        if os.path.isdir(source):
            raise IsADirectoryError(f"engine.load: {source!r} is a folder; give the path of a "
                                    f"file")
        if not os.path.isfile(source):  # a pipe or a device: reading it could wait for ever
            raise FileFormatError(f"engine.load: {source!r} is not a regular file (a pipe or a "
                                  f"device); give the path of a file")
    meta, arrays = read_safetensors(source, name)
    tree_text = meta.get(TREE_KEY)
    if tree_text is None:  # a plain safetensors file (e.g. from PyTorch)
        return {k: _to_tensor(v, device) for k, v in arrays.items()}
    try:
        return _decode(json.loads(tree_text), arrays, device, name)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise FileFormatError(f"engine.load: the structure stored in {name!r} is corrupt "
                              f"({type(exc).__name__}: {exc}); the file was damaged or "
                              f"edited") from None


# --------------------------------------------------------------------- encoding


def _host_array(arr: Any) -> np.ndarray:
    host = to_device_array(arr, CPU) if not isinstance(arr, np.ndarray) else arr
    if host.dtype == object:
        raise TypeError("engine.save: arrays of Python objects can't be saved")
    # Not np.ascontiguousarray: it turns 0-d arrays into 1-d ones.
    return host if host.flags.c_contiguous else host.copy(order="C")


def _tensor_key(path: tuple[Any, ...], arrays: dict[str, np.ndarray]) -> str:
    key = ".".join(str(k) for k in path) if path else _ROOT_TENSOR_KEY
    if key in arrays:  # e.g. {"a.b": t1, "a": {"b": t2}}: keep both, the tree knows which
        n = 2
        while f"{key}#{n}" in arrays:
            n += 1
        key = f"{key}#{n}"
    return key


def _encode(obj: Any, path: tuple[Any, ...], arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, Tensor):
        key = _tensor_key(path, arrays)
        arrays[key] = _host_array(obj._data)
        return {_TENSOR: key}
    if isinstance(obj, np.ndarray) or hasattr(obj, "__cuda_array_interface__"):
        key = _tensor_key(path, arrays)
        arrays[key] = _host_array(obj)
        return {_ARRAY: key}
    if obj is None or isinstance(obj, str | bool | int | float):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, _JSON_KEY_TYPES):
                raise TypeError(
                    f"engine.save: dict key {k!r} at {_where(path)} is a {type(k).__name__}; "
                    "keys must be strings, numbers, booleans or None"
                )
            items.append([k, _encode(v, (*path, k), arrays)])
        return {_DICT: items}
    if isinstance(obj, list):
        return [_encode(v, (*path, i), arrays) for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return {_TUPLE: [_encode(v, (*path, i), arrays) for i, v in enumerate(obj)]}
    hint = ("; save its state_dict() instead" if hasattr(obj, "state_dict") else "")
    raise TypeError(
        f"engine.save: can't save an object of type {type(obj).__module__}."
        f"{type(obj).__qualname__} at {_where(path)}: only tensors, arrays, numbers, strings, "
        f"booleans, None, lists, tuples and dicts can be saved{hint}"
    )


def _where(path: tuple[Any, ...]) -> str:
    return repr(".".join(str(k) for k in path)) if path else "the top level"


# --------------------------------------------------------------------- decoding


def _resolve_device(map_location: Any) -> Device:
    if map_location is None or callable(map_location):
        return CPU
    if isinstance(map_location, str | Device):
        return get_device(map_location)
    raise TypeError(
        f"engine.load: map_location must be None, a device string such as 'cpu' or 'cuda:0', "
        f"or an engine Device, got {type(map_location).__name__}"
    )


def _to_tensor(arr: np.ndarray, device: Device) -> Tensor:
    if device is not CPU:
        arr = to_device_array(arr, device)
    return Tensor._make(arr, device)


def _decode(node: Any, arrays: dict[str, np.ndarray], device: Device, path: str) -> Any:
    if isinstance(node, list):
        return [_decode(v, arrays, device, path) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        tag, value = next(iter(node.items()))
        if tag in (_TENSOR, _ARRAY):
            if not isinstance(value, str) or value not in arrays:
                raise FileFormatError(
                    f"engine.load: {path!r} refers to tensor {value!r}, which the file does not "
                    "hold; the file was damaged or edited"
                )
            arr = arrays[value]
            return _to_tensor(arr, device) if tag == _TENSOR else arr
        if tag == _DICT and isinstance(value, list) and all(
                isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], _JSON_KEY_TYPES)
                for kv in value):
            return {k: _decode(v, arrays, device, path) for k, v in value}
        if tag == _TUPLE and isinstance(value, list):
            return tuple(_decode(v, arrays, device, path) for v in value)
    raise FileFormatError(
        f"engine.load: unexpected entry {short_repr(node, 80)} in the structure stored in "
        f"{path!r}; the file was damaged, edited, or written by a newer LayerForge"
    )
