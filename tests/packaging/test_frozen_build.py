"""The desktop bundle: build it with PyInstaller (``packaging/build.py``, the spec's CPU one-folder
build) into a temporary folder, run its ``--self-test`` offscreen, and check what went in: the
resources found inside the bundle (not in the checkout), no test/GPU/dev-only packages, and the
size under the CPU build's 250 MB budget. About a minute on two cores."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

if importlib.util.find_spec("PyInstaller") is None:
    pytest.skip("PyInstaller is not installed: pip install -e '.[packaging]' to run the "
                "frozen-build test", allow_module_level=True)

LEFT_OUT = ("tests", "pytest", "_pytest", "cupy", "cupyx", "torch", "onnxruntime", "scipy",
            "sklearn", "mpi4py", "tkinter", "PyInstaller", "yaml")


def bundled_modules(exe: Path) -> set[str]:
    """Names of the Python modules inside the executable's archive."""
    from PyInstaller.archive.readers import CArchiveReader

    return set(CArchiveReader(str(exe)).open_embedded_archive("PYZ.pyz").toc)


def test_frozen_build_self_test_passes_offscreen(tmp_path: Path,
                                                 packaging_build: ModuleType) -> None:
    status, seconds = packaging_build.build(tmp_path / "dist", tmp_path / "work", quiet=True)
    assert status == 0, "PyInstaller failed; its log is above"
    exe = packaging_build.executable(tmp_path / "dist", onefile=False)
    bundle = exe.parent
    size_mb = packaging_build.bundle_size(bundle) / 2**20
    print(f"\nfrozen CPU build: {size_mb:.1f} MB in {bundle}, built in {seconds:.0f} s")

    result = packaging_build.self_test(exe)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "frozen build" in result.stdout.splitlines()[0]
    where = re.search(r"^\s+ok\s+resources\s+(\S+)", result.stdout, re.M)
    assert where and Path(where.group(1)).is_relative_to(bundle), result.stdout
    assert result.stdout.splitlines()[-1].startswith("self-test passed: ")

    modules = bundled_modules(exe)
    assert {"app.cli", "app.cli.selftest", "app.gui.main_window", "engine.graph.compiler",
            "engine.serialization"} <= modules
    leaked = sorted(m for m in modules if m.split(".")[0] in LEFT_OUT)
    assert not leaked, f"left-out packages are in the bundle: {leaked[:10]}"
    plugins = {p.name for p in bundle.rglob("plugins/*/*") if p.is_file()}
    assert any("offscreen" in p for p in plugins) and any("qsvg" in p for p in plugins)
    assert not any("qgtk3" in p or "qpdf" in p or "eglfs" in p for p in plugins), plugins
    assert size_mb < packaging_build.TARGET_MB, f"the CPU build is {size_mb:.1f} MB"
