"""Shared test setup: headless Qt, the repository on ``sys.path``, the app's data folder (runs of
unsaved projects, locks) in a temporary folder, a ``device`` fixture that runs every device test
on the CPU and, where CuPy finds a GPU, on ``cuda:0``, and a fixed seed per test so failures
reproduce."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]

# Before anything imports Qt: the tests never open a window, and the offscreen screen is the
# smallest a person uses (1366 x 768 at 96 dpi), so layout and legibility are tested there.
if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
    os.environ["QT_QPA_PLATFORM"] = (
        f"offscreen:configfile={_ROOT / 'tests' / 'offscreen-1366x768.json'}")
if str(_ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(_ROOT))
# tests/ itself, so every test file imports the one PyTorch reference helper (torch_reference).
if str(_ROOT / "tests") not in sys.path:
    sys.path.insert(1, str(_ROOT / "tests"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import engine  # noqa: E402


def _devices() -> list[str]:
    devices = ["cpu"]
    if engine.cuda.is_available():
        devices.append("cuda:0")
    return devices


@pytest.fixture(params=_devices())
def device(request: pytest.FixtureRequest) -> str:
    """Each device this machine has: always "cpu", plus "cuda:0" where a GPU is usable."""
    return request.param


@pytest.fixture(autouse=True, scope="session")
def _app_data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The user's data folder is never written by a test (child processes inherit this)."""
    os.environ["LAYERFORGE_DATA_DIR"] = str(tmp_path_factory.mktemp("layerforge-data"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same random state, on the engine and on NumPy's global one."""
    engine.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def image_folder():  # noqa: ANN201
    """``image_folder(root, classes, per_class, size)`` writes ``root/<class>/<i>.png``: small
    random RGB images in the ImageFolder layout, and returns ``root``."""
    return _write_image_folder


def _write_image_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"),
                        per_class: int = 3, size: tuple[int, int] = (10, 12)) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(
                root / cls / f"{i}.png")
    return root
