"""Which Qt plugins the desktop bundle keeps: shared by ``layerforge.spec`` and the PySide6.QtGui
hook in ``hooks/`` (the hook drops the others before PyInstaller follows their library
dependencies, so an unwanted plugin does not drag its libraries in either).

PySide6's hooks collect every plugin of QtGui and QtWidgets, most of which a desktop app never
loads. Kept: the platforms to draw on (offscreen for headless runs and ``--self-test``, minimal
for tests; xcb and wayland on Linux desktops; windows; cocoa), the SVG image format and icon
engine (every icon is an SVG; PNG is built into QtGui), JPEG/ICO/GIF for images users may open,
the XDG portal theme (native file dialogs on Linux desktops), the input contexts (typing
non-Latin text), the Wayland client plugins, the XCB GL integration, and the widget styles
(Windows/macOS native looks).

Left out on purpose: the GTK3 platform theme (it would drag the build machine's GTK, cairo and
pango into the bundle, where they clash with the user's own), eglfs/linuxfb/vnc (embedded
devices), and the image formats the app never reads (pdf, tiff, webp, tga, wbmp, icns).
"""

from __future__ import annotations

from pathlib import PurePath

KEEP_PLUGINS: dict[str, set[str] | None] = {
    "platforms": {"offscreen", "minimal", "xcb", "wayland", "wayland-egl", "windows", "cocoa"},
    "imageformats": {"svg", "jpeg", "ico", "gif"},
    "iconengines": {"svgicon"},
    "platformthemes": {"xdgdesktopportal"},
    "styles": None,  # None: every plugin of this kind
    "platforminputcontexts": None,
    "xcbglintegrations": None,
    "wayland-decoration-client": None,
    "wayland-graphics-integration-client": None,
    "wayland-shell-integration": None,
}


def plugin_kept(dest: str) -> bool:
    """``dest`` is a path in the bundle; False only for a Qt plugin we do not want."""
    parts = PurePath(dest.replace("\\", "/")).parts
    if "plugins" not in parts:
        return True
    at = parts.index("plugins")
    if len(parts) != at + 3:  # plugins/<kind>/<file>; deeper (platforms/darwin) is kept
        return len(parts) > at + 3
    kind = parts[at + 1]
    if kind not in KEEP_PLUGINS:
        return False
    wanted = KEEP_PLUGINS[kind]
    name = parts[-1].split(".")[0].removeprefix("lib").removeprefix("q")  # libqxcb.so -> xcb
    return wanted is None or name in wanted
