"""engine._blas_env: OpenBLAS's idle workers stop spinning soon after a GEMM, so the engine's
own op threads get the cores; the setting is in place before NumPy starts OpenBLAS."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine import _blas_env

ROOT = Path(__file__).resolve().parents[2]

# Records OPENBLAS_THREAD_TIMEOUT at the moment NumPy is first imported (OpenBLAS reads it
# then, once), whatever imports NumPy.
_CHILD = textwrap.dedent("""
    import os, sys
    seen = []

    class Spy:
        def find_spec(self, name, path=None, target=None):
            if name == "numpy" and not seen:
                seen.append(os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset"))
            return None

    sys.meta_path.insert(0, Spy())
    import {module}
    import numpy
    print(seen[0])
""")


def _timeout_seen(module: str, env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env.update(PYTHONPATH=str(ROOT), **env_extra)
    return subprocess.run([sys.executable, "-c", _CHILD.format(module=module)],
                          capture_output=True, text=True, env=env, check=True,
                          timeout=120).stdout.strip()


@pytest.mark.parametrize("module", ["engine", "app.cli", "engine.nn"])
def test_timeout_is_set_before_numpy_starts(module):
    """Importing the engine (or the app, which imports it first) sets the timeout before NumPy
    loads: set later, OpenBLAS would never read it."""
    assert _timeout_seen(module, {}) == str(_blas_env.THREAD_TIMEOUT_LOG2)


def test_a_value_the_user_set_wins():
    assert _timeout_seen("engine", {"OPENBLAS_THREAD_TIMEOUT": "7"}) == "7"


def test_a_script_that_imports_numpy_first_gets_no_timeout():
    """What the README says: a script importing NumPy before the engine keeps OpenBLAS's default
    (and should set the variable itself)."""
    assert _timeout_seen("numpy", {}) == "unset"
