"""Keep freed array memory in the process (glibc only).

Why: every op allocates its output, and glibc hands blocks of 128 KiB and more straight back to
the kernel when they are freed (mmap/munmap, and heap trimming). The next step asks for the same
sizes again, and each new page costs a page fault: LeNet-5 at batch 256 took ~3,900 faults and
~14 ms of kernel time per step, a sixth of the step. Raising glibc's mmap and trim thresholds
lets freed blocks be reused, as PyTorch's allocator reuses its blocks.

Arrays of 32 MiB and more are still mapped and unmapped directly (glibc's ceiling for the mmap
threshold), so one huge temporary does not stay resident. Set ``LAYERFORGE_MALLOC_TUNING=0`` to
leave glibc's defaults alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc refuses larger values (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 256 << 20

applied = False


def tune() -> bool:
    """Raise glibc's thresholds once; True when they are in effect."""
    global applied
    if applied:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("LAYERFORGE_MALLOC_TUNING") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return applied
