"""Work around a reference-count bug of PySide6 6.12 wheels on Python 3.10/3.11.

The 6.12 wheels (``cp310-abi3``) return ``None``, ``True`` and ``False`` to Python without
taking a reference, which is harmless on Python >= 3.12 (those objects are immortal there) but
on 3.11 drains their reference counts: a repaint of the canvas costs ~120 references to
``None``, and after a few hundred frames the interpreter aborts with "Fatal Python error:
none_dealloc". Giving the three singletons an enormous reference count makes them effectively
immortal, as Python 3.12 does itself. Remove this once the project requires Python >= 3.12 or
a fixed PySide6.
"""

from __future__ import annotations

import ctypes
import sys

_RESERVE = 1 << 40  # far more references than any session can lose
_done = False


def pin_singletons() -> bool:
    """Make None/True/False immortal on Python < 3.12; True when it did so."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object (a Py_ssize_t)
        ctypes.c_ssize_t.from_address(id(obj)).value += _RESERVE
    _done = True
    return True
