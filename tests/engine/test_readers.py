"""Reading tensor files from elsewhere (engine._readers, behind engine.load and read_weights):
PyTorch's BF16/F16/FP8 safetensors decode to the values PyTorch holds, and a damaged, edited
or hostile safetensors header or npz member raises one typed error naming the file and the
entry, before anything large is allocated."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from torch_reference import torch_or_skip

import engine
from engine._readers import read_npz, read_safetensors
from engine.errors import FileFormatError
from engine.export import WeightsError, read_weights


def safetensors_bytes(entries: dict[str, dict], data: bytes, metadata: dict | None = None) -> bytes:
    header = dict(entries)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def npy(arr: np.ndarray | None = None, *, descr: str = "<f4", shape: tuple = (),
        data: bytes = b"") -> bytes:
    """A .npy member: a real array (pickled when it holds objects), or a header as given
    followed by ``data``."""
    buf = io.BytesIO()
    if arr is not None:
        np.lib.format.write_array(buf, arr, allow_pickle=True)
        return buf.getvalue()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + data


def write_npz(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


# ----------------------------------------------------------------------------- half floats
def test_pytorch_half_precision_and_fp8_files_read_as_pytorch_holds_them(tmp_path: Path) -> None:
    torch = torch_or_skip()
    from safetensors.torch import save_file

    every_byte = torch.arange(256, dtype=torch.uint8)
    bf16_bits = torch.arange(-32768, 32768, 7, dtype=torch.int32).to(torch.int16)
    tensors = {
        "e4m3": every_byte.clone().view(torch.float8_e4m3fn).reshape(16, 16),
        "e5m2": every_byte.clone().view(torch.float8_e5m2),
        "bf16": bf16_bits.view(torch.bfloat16),
        "f16": torch.randn(3, 5).half(),
        "bf16_weights": torch.randn(4, 3).bfloat16(),
    }
    path = tmp_path / "torch.safetensors"
    save_file(tensors, str(path))
    for got in (read_weights(path), {k: v.numpy() for k, v in engine.load(path).items()}):
        for name, t in tensors.items():
            want = t.float().numpy() if name != "f16" else t.numpy()
            assert got[name].dtype == want.dtype and got[name].shape == want.shape, name
            np.testing.assert_array_equal(got[name], want, err_msg=name)  # NaN == NaN here


def test_half_floats_decode_without_pytorch(tmp_path: Path) -> None:
    # bit patterns and their values: bf16 1.0, -2.0, +inf; e4m3 1.0, 448 (max), NaN,
    # 2^-9 (smallest subnormal), -0; e5m2 1.0, 57344 (max), +inf, 2^-16 (smallest subnormal)
    bf16 = struct.pack("<3H", 0x3F80, 0xC000, 0x7F80)
    e4m3 = bytes([0x38, 0x7E, 0x7F, 0x01, 0x80])
    e5m2 = bytes([0x3C, 0x7B, 0x7C, 0x01])
    data = bf16 + e4m3 + e5m2
    raw = safetensors_bytes({
        "b": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]},
        "e4": {"dtype": "F8_E4M3", "shape": [5], "data_offsets": [6, 11]},
        "e5": {"dtype": "F8_E5M2", "shape": [2, 2], "data_offsets": [11, 15]}}, data)
    (tmp_path / "h.safetensors").write_bytes(raw)
    for _, arrays in (read_safetensors(raw), read_safetensors(tmp_path / "h.safetensors")):
        assert all(a.dtype == np.float32 for a in arrays.values())
        np.testing.assert_array_equal(arrays["b"], [1.0, -2.0, np.inf])
        np.testing.assert_array_equal(arrays["e4"], [1.0, 448.0, np.nan, 2.0 ** -9, -0.0])
        assert np.signbit(arrays["e4"][4])
        np.testing.assert_array_equal(arrays["e5"], [[1.0, 57344.0], [np.inf, 2.0 ** -16]])


# ----------------------------------------------------------------------------- safetensors
GOOD = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


@pytest.mark.parametrize(("entries", "data", "match"), [
    ({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8,
     r"tensor 'w' has dtype 'C64', which LayerForge cannot read .* tensor.float\(\)"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}, b"\0" * 8,
     r"tensor 'w' has shape \[-1\], not a list of sizes >= 0"),
    ({"w": {"dtype": "F32", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 8]}}, b"\0" * 8,
     r"tensor 'w' of F32 \(1048576, 1048576\) needs 4398046511104 bytes but its offsets span 8"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 1 << 40]}}, b"\0" * 8,
     r"data_offsets \[0, 1099511627776\], outside the 8 bytes"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12,
     r"tensor 'b' starts at byte 4 of the data, expected 8"),
    (GOOD, b"\0" * 12, r"the tensors cover 8 of the 12 bytes"),
    ({"w": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, r"entry 'w' lacks dtype, shape"),
    ({"w": [1, 2]}, b"", r"entry 'w' lacks"),
])
def test_damaged_safetensors_headers_name_the_entry(entries: dict, data: bytes, match: str,
                                                    tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(safetensors_bytes(entries, data))
    with pytest.raises(WeightsError, match=match):
        read_weights(path)
    with pytest.raises(FileFormatError, match=match):
        engine.load(path)


@pytest.mark.parametrize(("raw", "match"), [
    (struct.pack("<Q", 1 << 62) + b"{}", r"the header claims 4611686018427387904 bytes"),
    (struct.pack("<Q", 4) + b"[1] ", r"the header is a JSON list, not an object"),
    (struct.pack("<Q", 3) + b"\xff\xfe{", r"the header is not JSON"),
    (b"\x01\x02", r"2 bytes, shorter than the 8-byte header length"),
    (safetensors_bytes(GOOD, b"\0" * 8, metadata={"a": 1}), "__metadata__ is not a mapping"),
])
def test_damaged_safetensors_files_are_refused(raw: bytes, match: str, tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(raw)
    with pytest.raises(FileFormatError, match=f"x.safetensors: not a readable safetensors "
                                              f"file .*{match}"):
        read_safetensors(path)


def test_edited_structure_in_a_checkpoint_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    for tree in ('{"$d": "not a list"}', '{"$d": [[["k"], 1]]}', '{"$t": 5}',
                 "[" * 100000 + "]" * 100000):
        raw = safetensors_bytes(GOOD, b"\0" * 8, metadata={"layerforge.tree": tree})
        path.write_bytes(raw)
        with pytest.raises(FileFormatError, match="c.safetensors"):
            engine.load(path)


# ----------------------------------------------------------------------------- npz
@pytest.mark.parametrize(("member", "match"), [
    (npy(np.array(["a", "bc"])), r"array 'w' holds text \(<U2\); it must hold numbers"),
    (npy(np.array([1 + 2j])), r"array 'w' holds complex numbers"),
    (npy(np.array([object()], dtype=object)), r"array 'w' holds Python objects"),
    (npy(np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])), r"array 'w' holds raw or structured"),
    (npy(np.array(["2020-01-01"], dtype="datetime64[D]")), r"array 'w' holds dates"),
    (npy(descr="<f8", shape=(1 << 20, 1 << 20), data=b"\0" * 64),
     r"array 'w' declares shape \(1048576, 1048576\) of float64 \(8796093022208 bytes\) but "
     r"holds 64 bytes"),
    (npy(descr="<f4", shape=(10,), data=b"\0" * 8),
     r"array 'w' declares shape \(10,\) .* holds 8 bytes"),
    (b"\x93NUMPY garbage", r"member 'w' is not a readable .npy array"),
    (b"", r"member 'w' is not a readable .npy array"),
])
def test_bad_npz_members_are_named(member: bytes, match: str, tmp_path: Path) -> None:
    path = write_npz(tmp_path / "w.npz", {"ok.npy": npy(np.ones(3, np.float32)),
                                          "w.npy": member})
    before = path.read_bytes()
    with pytest.raises(WeightsError, match=f"w.npz: {match}"):
        read_weights(path)
    assert path.read_bytes() == before


def test_npz_members_that_are_not_arrays_are_refused(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "w.npz", {"w.npy": npy(np.ones(2)), "notes.txt": b"hello"})
    with pytest.raises(WeightsError, match=r"member 'notes.txt' is not a .npy array"):
        read_weights(path)


def test_npz_reads_fortran_order_big_endian_and_only_the_keys_asked(tmp_path: Path) -> None:
    f = np.asfortranarray(np.arange(6, dtype=">f8").reshape(2, 3))
    path = write_npz(tmp_path / "d.npz", {"f.npy": npy(f), "e.npy": npy(np.zeros((0, 4))),
                                          "s.npy": npy(np.array(["x"]))})
    names, arrays = read_npz(path, keys=["f", "e"])
    assert names == ["f", "e", "s"] and set(arrays) == {"f", "e"}
    np.testing.assert_array_equal(arrays["f"], f)
    assert arrays["e"].shape == (0, 4) and arrays["f"].flags.writeable
