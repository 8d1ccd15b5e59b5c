"""Before the window starts on Linux: are the system libraries there that Qt's X11 (xcb) plugin
loads? A minimal Debian or Ubuntu lacks some (``libxcb-cursor0`` first), and Qt then aborts with
"could not load the Qt platform plugin xcb" and no word of which library is missing. This looks
first and says which, with the command that installs it.

The libraries are the ones ``ldd`` lists for PySide6's ``libqxcb.so`` and ``libQt6XcbQpa`` that
a desktop does not always have (libc, libstdc++ and friends every system has are left out).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import NamedTuple


class SystemLib(NamedTuple):
    soname: str
    debian: str  # the Debian/Ubuntu package
    fedora: str  # the Fedora package


XCB_LIBS = (
    SystemLib("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    SystemLib("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    SystemLib("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    SystemLib("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    SystemLib("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    SystemLib("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    SystemLib("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    SystemLib("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    SystemLib("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    SystemLib("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    SystemLib("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    SystemLib("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    SystemLib("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    SystemLib("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    SystemLib("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    SystemLib("libxcb.so.1", "libxcb1", "libxcb"),
    SystemLib("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    SystemLib("libEGL.so.1", "libegl1", "libglvnd-egl"),
    SystemLib("libGL.so.1", "libgl1", "libglvnd-glx"),
    SystemLib("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    SystemLib("libdbus-1.so.3", "libdbus-1-3", "dbus-libs"),
)


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_libs(loads: Callable[[str], bool] = _loads) -> list[SystemLib]:
    """The libraries of ``XCB_LIBS`` this system cannot load."""
    return [lib for lib in XCB_LIBS if not loads(lib.soname)]


def missing_message(missing: list[SystemLib]) -> str:
    """One line: which libraries, and the commands that install them."""
    names = ", ".join(lib.soname for lib in missing)
    debian = " ".join(dict.fromkeys(lib.debian for lib in missing))
    fedora = " ".join(dict.fromkeys(lib.fedora for lib in missing))
    return (f"the window cannot start: Qt's X11 plugin needs {names}, which this system does "
            f"not have; install with 'sudo apt install {debian}' (Debian, Ubuntu) or "
            f"'sudo dnf install {fedora}' (Fedora), or use 'layerforge --help' for the "
            "command-line tools")
