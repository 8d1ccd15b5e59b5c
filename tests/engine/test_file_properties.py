"""Property-based tests (hypothesis) of the weights files a user gives the engine: generated
and mutated safetensors headers and npz members. Whatever the bytes, read_weights and
engine.load either load (arrays of plain numbers) or raise their typed error with a one-line
message; never another exception type, never a hang, and the file is left as it was. (The
checkpoint and dataset files have theirs beside their other tests: tests/engine/training/
test_checkpoint.py, tests/engine/data/test_data_bad_files.py.)"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from file_properties import bounded, loads_or_refuses, mutate
from hypothesis import given
from hypothesis import strategies as st

import engine
from engine.errors import FileFormatError
from engine.export import WeightsError, read_weights

# ----------------------------------------------------------------------------- safetensors
SIZES = st.integers(-2, 5) | st.sampled_from([1 << 20, 1 << 40, 2 ** 64])
DTYPES = st.sampled_from(["F32", "F64", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I64", "U8",
                          "BOOL", "C64", "F8_E8M0", "f32", ""])
ENTRY = st.fixed_dictionaries({
    "dtype": DTYPES, "shape": st.lists(SIZES, max_size=3),
    "data_offsets": st.lists(SIZES | st.integers(0, 64), min_size=2, max_size=2)})
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
                    st.text(max_size=8), lambda kids: st.lists(kids, max_size=3) |
                    st.dictionaries(st.text(max_size=5), kids, max_size=3), max_leaves=8)


def _safetensors(header: dict[str, Any], data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@st.composite
def safetensors_files(draw: Any) -> bytes:
    how = draw(st.sampled_from(["mutated", "header"]))
    if how == "mutated":
        buf = io.BytesIO()
        engine.save({"w": engine.ones(2, 3), "b": engine.zeros(3, dtype=engine.int64)}, buf)
        return mutate(buf.getvalue(), draw)
    header = draw(st.dictionaries(st.text(max_size=6), ENTRY | JSON, max_size=3))
    if draw(st.booleans()):
        header["__metadata__"] = draw(JSON)
    return _safetensors(header, draw(st.binary(max_size=64)))


# ----------------------------------------------------------------------------- npz
NPY_DESCR = st.sampled_from(["<f4", ">f8", "<i8", "|u1", "|b1", "<f2", "<U3", "|S2", "|O",
                             "<c8", "|V4", "<M8[D]"])


@st.composite
def npz_files(draw: Any) -> bytes:
    if draw(st.booleans()):
        buf = io.BytesIO()
        np.savez(buf, a=np.arange(6, dtype=np.float32).reshape(2, 3), b=np.ones(4, np.int64))
        return mutate(buf.getvalue(), draw)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in draw(st.lists(st.sampled_from(["x.npy", "y.npy", "w.npy", "notes.txt",
                                                    "d/"]), min_size=1, max_size=3,
                                  unique=True)):
            head = io.BytesIO()
            shape = tuple(draw(st.lists(st.integers(0, 4) | st.sampled_from([1 << 20, 1 << 40]),
                                        max_size=3)))
            np.lib.format.write_array_header_1_0(
                head, {"descr": draw(NPY_DESCR), "fortran_order": draw(st.booleans()),
                       "shape": shape})
            z.writestr(name, head.getvalue() + draw(st.binary(max_size=48)))
    return buf.getvalue()


@pytest.mark.parametrize(("suffix", "files"), [(".safetensors", safetensors_files()),
                                               (".npz", npz_files())])
@bounded
@given(data=st.data())
def test_any_weights_bytes_load_or_raise_the_typed_error(suffix: str, files: Any, data: Any,
                                                         tmp_path: Path) -> None:
    path = tmp_path / f"w{suffix}"
    path.write_bytes(data.draw(files))
    got = loads_or_refuses(path, read_weights, WeightsError)
    if got is not None:
        assert all(isinstance(v, np.ndarray) and v.dtype.kind in "biuf" for v in got.values())
    if suffix == ".safetensors":
        loads_or_refuses(path, engine.load, FileFormatError)
