"""Run ``engine/_cuda_kernels.py``'s CUDA kernel bodies on the host, for machines without a GPU.

Each ``ElementwiseKernel`` body is C++-compatible CUDA code; this stand-in for CuPy wraps it in
a loop over the output index ``i`` (the variable CuPy's kernels index by), compiles it with the
system's C++ compiler, and calls it through ctypes on NumPy arrays. ``use_host_kernels`` then
makes the engine's ops take their GPU branches with NumPy arrays, so the kernels' index
arithmetic and rounding are checked on every CI run, not only where a GPU is lent.

What it does not cover: CUDA-only behaviour (launch limits, NVRTC's headers; ``gpu_check.py``
runs the same tests on a real GPU)."""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

_C_TYPES = {
    np.dtype(np.float32): ("float", ctypes.c_float),
    np.dtype(np.float64): ("double", ctypes.c_double),
    np.dtype(np.uint8): ("unsigned char", ctypes.c_ubyte),
    np.dtype(np.int32): ("int", ctypes.c_int),
    np.dtype(np.int64): ("long long", ctypes.c_longlong),
    np.dtype(bool): ("bool", ctypes.c_bool),
}
_FIXED = {"int32": np.dtype(np.int32), "bool": np.dtype(bool), "float32": np.dtype(np.float32),
          "float64": np.dtype(np.float64)}
# CUDA intrinsics the kernels use, as host functions.
_PRELUDE = """#include <cmath>
#include <cstddef>
#include <cstring>
using std::exp; using std::log; using std::sqrt; using std::tanh;
static double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
"""


def compiler() -> str | None:
    return shutil.which("g++") or shutil.which("c++")


def _params(spec: str) -> list[tuple[bool, str, str]]:
    out = []
    for part in spec.split(","):
        words = part.split()
        raw = words[0] == "raw"
        if raw:
            words = words[1:]
        out.append((raw, words[0], words[1]))
    return out


class HostElementwiseKernel:
    """CuPy's ``ElementwiseKernel`` call convention (inputs, then outputs; outputs allocated
    when left out), run by a compiled host loop."""

    build_dir: Path  # where the compiled loops go: set by ``use_host_kernels``

    def __init__(self, in_params: str, out_params: str, operation: str, name: str,
                 **_: Any) -> None:
        self.ins, self.outs = _params(in_params), _params(out_params)
        self.operation, self.name = operation, name
        self._built: dict[Any, Any] = {}

    def __call__(self, *args: Any) -> Any:
        ins, outs = list(args[:len(self.ins)]), list(args[len(self.ins):])
        types: dict[str, np.dtype] = {}
        for (_, t, _), a in zip(self.ins + self.outs, ins + outs):
            if t not in _FIXED and isinstance(a, np.ndarray):
                types.setdefault(t, a.dtype)
        allocate = not outs
        if allocate:
            shape = next(a.shape for (raw, _, _), a in zip(self.ins, ins)
                         if isinstance(a, np.ndarray) and not raw)
            outs = [np.empty(shape, _FIXED.get(t) or types[t]) for _, t, _ in self.outs]
        shape = next(a.shape for (raw, _, _), a in zip(self.ins + self.outs, ins + outs)
                     if isinstance(a, np.ndarray) and not raw)
        arrays = tuple(isinstance(a, np.ndarray) for a in ins + outs)
        key = (tuple(sorted((k, str(v)) for k, v in types.items())), arrays)
        if key not in self._built:
            self._built[key] = self._build(types, arrays)
        c_args, keep, write_back = [], [], []
        for param, a in zip(self.ins + self.outs, ins + outs):
            raw, t, name = param
            dtype = _FIXED.get(t) or types[t]
            if not isinstance(a, np.ndarray):
                c_args.append(_C_TYPES[dtype][1](a))
                continue
            assert a.dtype == dtype, f"{self.name}: {name} is {a.dtype}, expected {dtype}"
            arr = a if raw or a.shape == shape else np.broadcast_to(a, shape)
            if not arr.flags.c_contiguous:
                arr = np.ascontiguousarray(arr)
                if param in self.outs:
                    write_back.append((a, arr))
            keep.append(arr)
            c_args.append(arr.ctypes.data_as(ctypes.c_void_p))
        self._built[key](ctypes.c_longlong(int(np.prod(shape))), *c_args)
        for a, arr in write_back:
            a[...] = arr
        if allocate:
            return tuple(outs) if len(outs) > 1 else outs[0]
        return None

    def _build(self, types: dict[str, np.dtype], arrays: tuple[bool, ...]) -> Any:
        signature, locals_ = ["long long n_"], []
        for param, is_array in zip(self.ins + self.outs, arrays):
            raw, t, name = param
            c_type = _C_TYPES[_FIXED.get(t) or types[t]][0]
            if not is_array:
                signature.append(f"{c_type} {name}")
            elif raw:
                signature.append(f"{c_type}* {name}")
            elif param in self.outs:
                signature.append(f"{c_type}* {name}_p")
                locals_.append(f"{c_type}& {name} = {name}_p[i];")
            else:
                signature.append(f"const {c_type}* {name}_p")
                locals_.append(f"const {c_type} {name} = {name}_p[i];")
        typedefs = "".join(f"typedef {_C_TYPES[v][0]} {k};\n" for k, v in types.items())
        source = (_PRELUDE + typedefs + f'extern "C" void run({", ".join(signature)}) {{\n'
                  "for (ptrdiff_t i = 0; i < n_; ++i) {\n" + "\n".join(locals_) + "\n"
                  + self.operation + "\n}\n}\n")
        digest = hashlib.sha1(source.encode()).hexdigest()[:16]
        library = self.build_dir / f"{self.name}_{digest}.so"
        if not library.exists():
            cpp = library.with_suffix(".cpp")
            cpp.write_text(source)
            subprocess.run([compiler() or "g++", "-O1", "-shared", "-fPIC", "-o", str(library),
                            str(cpp)], check=True, capture_output=True)
        return ctypes.CDLL(str(library)).run


class _HostCupy:
    ElementwiseKernel = HostElementwiseKernel
    ascontiguousarray = staticmethod(np.ascontiguousarray)
    empty = staticmethod(np.empty)
    empty_like = staticmethod(np.empty_like)


def _clear_kernel_caches(module: Any) -> None:
    for value in vars(module).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


def use_host_kernels(monkeypatch: Any, build_dir: Path) -> None:
    """Make every engine module that asks ``on_gpu`` take its GPU branch, with the kernels
    compiled for the host into ``build_dir`` (kept for the session: a kernel already built
    there is not compiled again). Undone (and the kernel caches cleared) by
    ``undo_host_kernels``."""
    from engine import _cuda_kernels

    _clear_kernel_caches(_cuda_kernels)
    monkeypatch.setattr(HostElementwiseKernel, "build_dir", build_dir, raising=False)
    monkeypatch.setattr(_cuda_kernels, "_cupy", lambda: _HostCupy)
    original = _cuda_kernels.on_gpu
    for name, module in list(sys.modules.items()):
        if name.startswith("engine.") and getattr(module, "on_gpu", None) is original:
            monkeypatch.setattr(module, "on_gpu", lambda xp, dtype: True)


def undo_host_kernels() -> None:
    from engine import _cuda_kernels

    _clear_kernel_caches(_cuda_kernels)
