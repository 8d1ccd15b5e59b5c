"""Where the files shipped with LayerForge (``resources/``) are found.

The one place that knows: in a checkout, ``resources/`` sits next to ``engine/``; a frozen build
(PyInstaller) unpacks it under ``sys._MEIPASS``; ``LAYERFORGE_RESOURCES`` overrides both (for
packagers and tests). Packaging changes only this function.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import DatasetNotFoundError

__all__ = ["resource_path", "resources_dir"]


def resources_dir() -> Path:
    """The folder that holds LayerForge's shipped resources."""
    override = os.environ.get("LAYERFORGE_RESOURCES")
    if override:
        return Path(override)
    if getattr(sys, "frozen", False):
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "resources"
    return Path(__file__).resolve().parents[3] / "resources"


def resource_path(*parts: str) -> Path:
    """A shipped file, e.g. ``resource_path("datasets", "digits.npz")``; raises a
    ``DatasetNotFoundError`` that says where it was looked for when it is missing."""
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        raise DatasetNotFoundError(
            f"LayerForge's resource file {path} is missing: the installation is incomplete "
            f"(resources/ should sit next to engine/). Reinstall LayerForge, or set "
            f"LAYERFORGE_RESOURCES to the folder that holds {'/'.join(parts)}")
    return path
