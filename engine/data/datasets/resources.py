"""Where the files shipped with LayerForge (``resources/``) are found.

The datasets' view of ``engine._resources`` (the one place that knows the checkout, installed
and frozen locations, and the ``LAYERFORGE_RESOURCES`` override); this module adds the
dataset-flavoured error.
"""

from __future__ import annotations

from pathlib import Path

from ... import _resources
from ..errors import DatasetNotFoundError

__all__ = ["resource_path", "resources_dir"]


def resources_dir() -> Path:
    """The folder that holds LayerForge's shipped resources (found by ``engine._resources``:
    checkout, installed wheel or frozen build)."""
    return _resources.resources_dir()


def resource_path(*parts: str) -> Path:
    """A shipped file, e.g. ``resource_path("datasets", "digits.npz")``; raises a
    ``DatasetNotFoundError`` that says where it was looked for when it is missing."""
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        raise DatasetNotFoundError(
            f"LayerForge's resource file {path} is missing: the installation is incomplete "
            f"(looked in: {', '.join(map(str, _resources.candidates()))}). Reinstall "
            f"LayerForge, or set "
            f"LAYERFORGE_RESOURCES to the folder that holds {'/'.join(parts)}")
    return path
