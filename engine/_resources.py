"""Where the files shipped with LayerForge (``resources/``: templates, built-in datasets, icons)
are found. The one place that knows; every other module asks ``resources_dir()``.

Why several places: the same code runs from a checkout (``resources/`` next to ``engine/``), from
a PyInstaller build (unpacked under ``sys._MEIPASS``, the ``_internal`` folder of a one-folder
build or the temporary folder of a one-file build), and from an installed wheel, where
``resources/`` is not inside a Python package and pip puts it in the installation's data folder
as ``share/layerforge/resources`` (``[tool.setuptools.data-files]`` in pyproject.toml).
``LAYERFORGE_RESOURCES`` overrides them all (packagers, tests, a portable install).

Lookup order: the override; the frozen build's folder; the checkout (also an editable install);
the data folders of the installation schemes (venv or system prefix, ``--user``); last, the
paths the installed distribution's RECORD lists, which holds for any scheme pip used.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from functools import cache
from pathlib import Path

__all__ = ["DISTRIBUTION", "MARKER", "candidates", "resource_path", "resources_dir"]

DISTRIBUTION = "layerforge"
# A file every complete resources folder has: it tells our folder apart from someone else's
# folder that happens to be called "resources" (a stray top-level package in site-packages).
MARKER = ("templates", "spiral.json")
_DATA_SUBDIR = ("share", "layerforge", "resources")


def candidates() -> list[Path]:
    """Every place looked at, in order (the error message lists them when none is complete)."""
    places: list[Path] = []
    override = os.environ.get("LAYERFORGE_RESOURCES")
    if override:
        return [Path(override)]
    if getattr(sys, "frozen", False):
        places.append(Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "resources")
    places.append(Path(__file__).resolve().parents[1] / "resources")  # checkout / editable
    data_dirs = [sysconfig.get_path("data"), sys.prefix, sys.base_prefix,
                 getattr(site, "USER_BASE", None)]
    for base in dict.fromkeys(d for d in data_dirs if d):
        places.append(Path(base).joinpath(*_DATA_SUBDIR))
    recorded = _recorded_dir()
    if recorded is not None:
        places.append(recorded)
    return list(dict.fromkeys(places))


def _recorded_dir() -> Path | None:
    """The resources folder as the installed distribution's RECORD locates it (None when
    LayerForge is not installed as a distribution)."""
    from importlib import metadata  # noqa: PLC0415 - only when the usual places failed

    try:
        files = metadata.distribution(DISTRIBUTION).files or []
    except metadata.PackageNotFoundError:
        return None
    tail = "/".join(_DATA_SUBDIR + MARKER)
    for f in files:
        if str(f).replace("\\", "/").endswith(tail):
            return Path(str(f.locate())).resolve().parents[len(MARKER) - 1]
    return None


def _complete(path: Path) -> bool:
    return path.joinpath(*MARKER).is_file()


@cache
def _found(override: str | None) -> Path:
    places = candidates()
    return next((p for p in places if _complete(p)), places[0])


def resources_dir() -> Path:
    """The folder that holds LayerForge's shipped resources. When no complete folder is found it
    still returns the first candidate, so the caller's error names a real path; use
    ``resource_path`` for a file that must exist."""
    return _found(os.environ.get("LAYERFORGE_RESOURCES") or None)


def resource_path(*parts: str) -> Path:
    """A shipped file, e.g. ``resource_path("templates", "spiral.json")``; a FileNotFoundError
    that lists every place looked at when it is missing."""
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        looked = ", ".join(str(p) for p in candidates())
        raise FileNotFoundError(
            f"LayerForge's resource file {'/'.join(parts)} is missing (looked in: {looked}); the "
            f"installation is incomplete. Reinstall LayerForge, or set LAYERFORGE_RESOURCES to "
            f"the folder that holds {'/'.join(parts)}")
    return path
