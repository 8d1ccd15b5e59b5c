"""engine._malloc: freed array memory is reused instead of being faulted in again each step."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_CHILD = textwrap.dedent("""
    import resource
    import numpy as np
    import engine
    from engine import _malloc
    a = np.ones(1 << 20, dtype=np.float32)

    def step():  # like a training step: several 4-8 MiB temporaries, all freed at the end
        temps = [a * 2.0, np.concatenate([a, a]), a + 1.0, np.concatenate([a, a, a])]
        del temps

    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(_malloc.applied, faults)
""")


def _run(env_extra: dict[str, str]) -> tuple[bool, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env_extra}
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                         env=env, check=True, timeout=60).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_arrays_are_reused_without_page_faults() -> None:
    tuned, faults = _run({})
    assert tuned
    # 20 steps of 32 MiB of fresh arrays would be ~160k page faults if mapped anew.
    assert faults < 500


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tuning_can_be_turned_off() -> None:
    tuned, faults = _run({"LAYERFORGE_MALLOC_TUNING": "0"})
    assert not tuned
    assert faults > 5000  # glibc's defaults: the freed heap is trimmed and faulted in again
