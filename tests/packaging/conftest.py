"""``packaging/build.py`` as a module for the packaging tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def packaging_build() -> ModuleType:
    """Loaded by path: ``build`` is also the name of PyPA's build package."""
    spec = importlib.util.spec_from_file_location("layerforge_packaging_build",
                                                  ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module
