"""Shared test setup: headless Qt, the repository on ``sys.path``, a ``device`` fixture that runs
every device test on the CPU and, where CuPy finds a GPU, on ``cuda:0``, and a fixed seed per
test so failures reproduce."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Before anything imports Qt: the tests never open a window.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_ROOT = Path(__file__).resolve().parents[1]
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


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same random state, on the engine and on NumPy's global one."""
    engine.manual_seed(0)
    np.random.seed(0)
