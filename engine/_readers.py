"""Reading tensor files that came from elsewhere (safetensors, NumPy .npz), checked before
anything is allocated, so a damaged, edited or hostile file raises ``FileFormatError`` naming
the file and the entry instead of a MemoryError, a TypeError or a hang.

Why our own safetensors reader rather than the ``safetensors`` package's: that package's NumPy
side cannot return BF16 or FP8 tensors (``TypeError: data type 'bfloat16' not understood``),
which is what PyTorch users commonly save. The format is small (an 8-byte header length, a JSON
header, the raw little-endian bytes), so it is parsed here: every entry's dtype, shape and
offsets are checked against the file's real size first, BF16 and FP8 (E4M3, E5M2) are widened
to float32 with NumPy bit operations (no ml_dtypes needed), and the data is read exactly once.

For .npz, every member must be a ``.npy`` array whose header declares a plain numeric dtype
(never objects, so nothing is unpickled) and a shape whose size equals the bytes the member
really holds.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .errors import FileFormatError

__all__ = ["SAFETENSORS_DTYPES", "read_npz", "read_safetensors"]

# safetensors' dtype names -> the NumPy dtype of the stored bytes (all little-endian).
SAFETENSORS_DTYPES = {
    "BOOL": "|b1", "U8": "|u1", "I8": "|i1", "U16": "<u2", "I16": "<i2", "U32": "<u4",
    "I32": "<i4", "U64": "<u8", "I64": "<i8", "F16": "<f2", "F32": "<f4", "F64": "<f8",
    "BF16": "<u2", "F8_E4M3": "|u1", "F8_E5M2": "|u1",
}
MAX_HEADER_BYTES = 100_000_000  # the safetensors package's own limit
_KIND_NAMES = {"U": "text", "S": "bytes", "O": "Python objects", "V": "raw or structured records",
               "c": "complex numbers", "M": "dates", "m": "time spans"}


# ----------------------------------------------------------------------------- safetensors
def _bf16(raw: np.ndarray) -> np.ndarray:
    """bfloat16 is the upper half of a float32: shift the bits into place."""
    return (raw.astype("<u4") << 16).view("<f4").astype(np.float32)


def _f8_e5m2(raw: np.ndarray) -> np.ndarray:
    """float8 E5M2 is the upper byte of a float16 (same exponent bias, infinities, NaNs)."""
    return (raw.astype("<u2") << 8).view("<f2").astype(np.float32)


def _e4m3_table() -> np.ndarray:
    """The 256 values of float8 E4M3 ("fn": bias 7, no infinities, S.1111.111 is NaN)."""
    bits = np.arange(256)
    exp, man = (bits >> 3) & 0xF, (bits & 7) / 8.0
    value = np.where(exp == 0, man * 2.0 ** -6, (1.0 + man) * 2.0 ** (exp - 7.0))
    value = np.where(bits & 0x80, -value, value)
    value[(bits & 0x7F) == 0x7F] = np.nan
    return value.astype(np.float32)


_E4M3 = _e4m3_table()
_WIDEN: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "BF16": _bf16, "F8_E5M2": _f8_e5m2, "F8_E4M3": lambda raw: _E4M3[raw]}


def read_safetensors(source: str | os.PathLike[str] | bytes,
                     name: str | None = None) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """``(metadata, {tensor name: array})`` of a safetensors file (a path) or its bytes, names in
    sorted order. BF16 and FP8 tensors come back as float32 (NumPy has no such types)."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = memoryview(source).cast("B")
        where = name or "<bytes>"
        header, start = _parse_header(data[:8].tobytes(), len(data), where,
                                      lambda n: data[8:8 + n].tobytes())
        entries = _check_entries(header, len(data) - start, where)
        return _metadata(header, where), {
            k: _decode(np.frombuffer(data, np.uint8, e - b, start + b).copy(), dt, shape)
            for k, (dt, shape, b, e) in entries.items()}
    where = name or os.fspath(source)
    with open(source, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, start = _parse_header(f.read(8), size, where, f.read)
        entries = _check_entries(header, size - start, where)
        out = {}
        for k, (dt, shape, b, e) in entries.items():
            f.seek(start + b)
            out[k] = _decode(_read_exactly(f, e - b, where, k), dt, shape)
        return _metadata(header, where), out


def _fail(where: str, what: str) -> FileFormatError:
    return FileFormatError(f"{where}: not a readable safetensors file ({what}); it is truncated "
                           f"or corrupt, or was written in another format (e.g. torch.save's "
                           f"pickle)")


def _parse_header(first8: bytes, size: int, where: str,
                  read: Callable[[int], bytes]) -> tuple[dict[str, Any], int]:
    if len(first8) < 8:
        raise _fail(where, f"{size} bytes, shorter than the 8-byte header length")
    n = int.from_bytes(first8, "little")
    if n > min(size - 8, MAX_HEADER_BYTES):
        raise _fail(where, f"the header claims {n} bytes but the file has {size - 8} after the "
                           f"length")
    try:
        header = json.loads(read(n).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail(where, f"the header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise _fail(where, f"the header is a JSON {type(header).__name__}, not an object")
    return header, 8 + n


def _check_entries(header: dict[str, Any], data_size: int,
                   where: str) -> dict[str, tuple[str, tuple[int, ...], int, int]]:
    """Each tensor's (dtype, shape, begin, end), checked: a known dtype, a shape of sizes >= 0,
    offsets whose span is exactly shape x itemsize, spans that tile the data without gaps."""
    entries = {}
    for key, e in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(e, dict) or not {"dtype", "shape", "data_offsets"} <= e.keys():
            raise _fail(where, f"entry {key!r} lacks dtype, shape or data_offsets")
        dt, shape, offsets = e["dtype"], e["shape"], e["data_offsets"]
        if dt not in SAFETENSORS_DTYPES:
            raise FileFormatError(
                f"{where}: tensor {key!r} has dtype {dt!r}, which LayerForge cannot read (it "
                f"reads {', '.join(SAFETENSORS_DTYPES)}); convert it, e.g. in PyTorch with "
                f"tensor.float() before saving")
        if not (isinstance(shape, list) and all(_is_count(s) for s in shape)):
            raise _fail(where, f"tensor {key!r} has shape {shape!r}, not a list of sizes >= 0")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))
                and offsets[0] <= offsets[1] <= data_size):
            raise _fail(where, f"tensor {key!r} has data_offsets {offsets!r}, outside the "
                               f"{data_size} bytes of data")
        need = math.prod(shape) * np.dtype(SAFETENSORS_DTYPES[dt]).itemsize
        if offsets[1] - offsets[0] != need:
            raise _fail(where, f"tensor {key!r} of {dt} {tuple(shape)} needs {need} bytes but its "
                               f"offsets span {offsets[1] - offsets[0]}")
        entries[key] = (dt, tuple(shape), offsets[0], offsets[1])
    end = 0
    for key, (_dt, _shape, b, e) in sorted(entries.items(), key=lambda kv: kv[1][2:]):
        if b != end:
            raise _fail(where, f"tensor {key!r} starts at byte {b} of the data, expected {end}")
        end = e
    if end != data_size:
        raise _fail(where, f"the tensors cover {end} of the {data_size} bytes of data")
    return dict(sorted(entries.items()))


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def short_repr(value: Any, limit: int, ellipsis: str = "...") -> str:
    """``repr`` of a bad value, cut to ``limit`` characters (``ellipsis`` included) to fit a
    one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - len(ellipsis)] + ellipsis


def _metadata(header: dict[str, Any], where: str) -> dict[str, str]:
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _fail(where, "__metadata__ is not a mapping of strings")
    return meta


def _read_exactly(f: BinaryIO, n: int, where: str, key: str) -> np.ndarray:
    out = np.fromfile(f, dtype=np.uint8, count=n) if n else np.empty(0, np.uint8)
    if out.size != n:  # the file shrank while being read
        raise _fail(where, f"tensor {key!r}: {out.size} of its {n} bytes could be read")
    return out


def _decode(raw: np.ndarray, dt: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = raw.view(SAFETENSORS_DTYPES[dt])
    if dt in _WIDEN:
        arr = _WIDEN[dt](arr)
    return arr.reshape(shape).astype(arr.dtype.newbyteorder("="), copy=False)


# ----------------------------------------------------------------------------- npz
def read_npz(path: str | os.PathLike[str], keys: Collection[str] | None = None,
             kinds: str = "biuf") -> tuple[list[str], dict[str, np.ndarray]]:
    """``(every array name, {name: array})`` of a .npz file, reading only ``keys`` (default:
    all) and refusing members that are not .npy arrays of the dtype ``kinds`` (NumPy kind
    letters) or whose header does not match their size. Never unpickles."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            members = {}
            for info in zf.infolist():
                if not info.filename.endswith(".npy") or info.is_dir():
                    raise FileFormatError(
                        f"{path}: member {info.filename!r} is not a .npy array; a .npz file "
                        f"holds only arrays (write it with numpy.savez)")
                members[info.filename[:-4]] = info
            wanted = list(members) if keys is None else [k for k in members if k in keys]
            arrays = {k: _read_member(zf, members[k], path, kinds) for k in wanted}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            NotImplementedError) as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise FileFormatError(f"{path}: not a readable .npz file ({exc})") from None
    return list(members), arrays


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path,
                 kinds: str) -> np.ndarray:
    key = info.filename[:-4]
    with zf.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"npy format version {version} (structured field names only)")
        except ValueError as exc:
            raise FileFormatError(f"{path}: member {key!r} is not a readable .npy array "
                                  f"({exc})") from None
        if dtype.hasobject or dtype.names is not None or dtype.kind not in kinds:
            what = _KIND_NAMES.get(dtype.kind, str(dtype))
            raise FileFormatError(
                f"{path}: array {key!r} holds {what} ({dtype.str}); it must hold numbers "
                f"({', '.join(_kind_words(kinds))}): convert it before saving, e.g. "
                f"np.savez(path, {key}=array.astype(np.float32))")
        need = math.prod(shape) * dtype.itemsize
        have = info.file_size - f.tell()
        if need != have:
            raise FileFormatError(
                f"{path}: array {key!r} declares shape {tuple(shape)} of {dtype} ({need} bytes) "
                f"but holds {have} bytes of data; the file is damaged or was edited")
        arr = np.empty(math.prod(shape), dtype=dtype)
        view, got = memoryview(arr.view(np.uint8)), 0
        while got < need:
            n = f.readinto(view[got:])
            if not n:
                raise FileFormatError(f"{path}: array {key!r} ends after {got} of {need} bytes")
            got += n
    return arr.reshape(shape, order="F" if fortran else "C")


def _kind_words(kinds: str) -> list[str]:
    words = {"b": "booleans", "i": "integers", "u": "unsigned integers", "f": "floats"}
    return [words[k] for k in kinds if k in words]
