"""``engine.save`` / ``engine.load``: state dicts and checkpoints in the safetensors format.

Why safetensors rather than pickle: loading a file can't run code, and a model's state dict
written here opens unchanged in PyTorch (``safetensors.torch.load_file``) and vice versa.

Layout: every tensor is stored under its dotted path (``"fc1.weight"`` for a model's state dict,
``"optimizer.state.0.exp_avg"`` inside a checkpoint), so a flat state dict keeps exactly its own
keys. The structure around the tensors (nesting, int vs str keys, order, tuples, numbers,
strings, None) is kept as JSON in the file's metadata under ``layerforge.tree``, so ``load``
rebuilds exactly what was saved. Files without that entry (written by other tools) load as a
flat ``{name: Tensor}`` dict.

Writes are atomic: the file is written to a temporary file in the same folder, flushed to disk
and renamed over the target, so a crash or error mid-write leaves the old file intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import uuid
from typing import Any

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError, safe_open

from ._backend import CPU, Device, get_device, to_device_array
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
    if hasattr(path, "write"):  # a binary file object (io.BytesIO, open(..., "wb"))
        path.write(safetensors.numpy.save(arrays, metadata=metadata))
        return
    _atomic_write(os.fspath(path), arrays, metadata)


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
        return _load_bytes(path.read(), device, getattr(path, "name", "<file object>"))
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"engine.load: no such file: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"engine.load: {path!r} is a folder; give the path of a file")
    try:
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata() or {}
            tree_text = meta.get(TREE_KEY)
            if tree_text is None:  # a plain safetensors file (e.g. from PyTorch)
                return {k: _to_tensor(f.get_tensor(k), device) for k in f.keys()}
            try:
                tree = json.loads(tree_text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"engine.load: the structure stored in {path!r} is corrupt ({exc}); the file "
                    "was damaged or edited"
                ) from None
            return _decode(tree, f, set(f.keys()), device, path)
    except SafetensorError as exc:
        raise ValueError(
            f"not a safetensors file: {path!r} ({exc}); it is truncated or corrupt, or was "
            "written in another format (e.g. torch.save's pickle)"
        ) from None


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


def _atomic_write(path: str, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"engine.save: the folder {folder!r} does not exist; create it first "
            "(os.makedirs(folder, exist_ok=True))"
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"engine.save: {path!r} is a folder; give a file name")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    # Created with mode 0o666 so the process umask applies, as for an ordinary new file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    os.close(fd)
    try:
        safetensors.numpy.save_file(arrays, tmp, metadata=metadata)
        with open(tmp, "r+b") as f:
            os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))  # keep the old file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders can't be opened."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------- decoding


def _load_bytes(data: bytes, device: Device, name: str) -> Any:
    """``load`` from bytes: safetensors' numpy API reads the tensors, the metadata (our tree)
    comes from the header (an 8-byte length, then JSON)."""
    try:
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + n])
        arrays = safetensors.numpy.load(data)
    except (ValueError, SafetensorError) as exc:
        raise ValueError(f"not a safetensors file: {name!r} ({exc}); it is truncated or corrupt, "
                         f"or was written in another format (e.g. torch.save's pickle)") from None
    tree_text = (header.get("__metadata__") or {}).get(TREE_KEY)
    if tree_text is None:
        return {k: _to_tensor(v, device) for k, v in arrays.items()}
    return _decode(json.loads(tree_text), _ArrayReader(arrays), set(arrays), device, name)


class _ArrayReader:
    """What ``_decode`` reads tensors from, over arrays already in memory."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def get_tensor(self, key: str) -> np.ndarray:
        return self.arrays[key]


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


def _decode(node: Any, f: Any, keys: set[str], device: Device, path: str) -> Any:
    if isinstance(node, list):
        return [_decode(v, f, keys, device, path) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        tag, value = next(iter(node.items()))
        if tag in (_TENSOR, _ARRAY):
            if value not in keys:
                raise ValueError(
                    f"engine.load: {path!r} refers to tensor {value!r}, which the file does not "
                    "hold; the file was damaged or edited"
                )
            arr = f.get_tensor(value)
            return _to_tensor(arr, device) if tag == _TENSOR else arr
        if tag == _DICT:
            return {k: _decode(v, f, keys, device, path) for k, v in value}
        if tag == _TUPLE:
            return tuple(_decode(v, f, keys, device, path) for v in value)
    raise ValueError(
        f"engine.load: unexpected entry {node!r} in the structure stored in {path!r}; the file "
        "was damaged, edited, or written by a newer LayerForge"
    )
