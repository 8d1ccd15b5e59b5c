"""``packaging/build.py`` without building: the one-file and one-folder builds never replace each
other, and the Linux desktop entry is valid. (The build itself: ``test_frozen_build.py``.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("onefile, dist", [(True, "dist/onefile"), (False, "dist")])
def test_the_one_file_build_has_a_folder_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, packaging_build: ModuleType,
        onefile: bool, dist: str) -> None:
    built: list[Path] = []

    def pyinstaller(dist: Path, work: Path, onefile: bool, *args: object) -> tuple[int, float]:
        built.append(dist)
        return 1, 0.0  # "failed": main stops there

    monkeypatch.setattr(packaging_build, "ROOT", tmp_path)
    monkeypatch.setattr(packaging_build, "build", pyinstaller)
    assert packaging_build.main(["--onefile"] if onefile else []) == 1
    assert built == [tmp_path / dist]


@pytest.mark.skipif(sys.platform == "win32", reason="layerforge.exe never meets layerforge/")
@pytest.mark.parametrize("onefile", [True, False])
def test_a_build_that_would_delete_the_other_kind_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture, packaging_build: ModuleType,
        onefile: bool) -> None:
    other = tmp_path / "layerforge"
    if onefile:
        (other / "_internal").mkdir(parents=True)
    else:
        other.write_bytes(b"\x7fELF")
    argv = ["--dist", str(tmp_path), "--work", str(tmp_path / "work")]
    assert packaging_build.main(argv + (["--onefile"] if onefile else [])) == 2
    kind = "one-folder" if onefile else "one-file"
    assert f"{other} is a {kind} build, which this build would delete" in capsys.readouterr().err
    assert other.exists() and not (tmp_path / "work").exists()  # nothing was built


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="needs desktop-file-validate (Debian: apt install desktop-file-utils)")
def test_the_desktop_entry_validates() -> None:
    proc = subprocess.run(["desktop-file-validate", str(ROOT / "packaging" / "layerforge.desktop")],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout + proc.stderr == "", proc.stdout + proc.stderr
