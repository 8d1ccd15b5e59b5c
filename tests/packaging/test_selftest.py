"""``layerforge --self-test`` run as a user runs it: a separate process, offscreen, from a folder
outside the checkout (so the resources must be found by the lookup, not by the working folder)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ("resources", "qt", "main window", "template", "dashboard", "train", "export", "reload")


def run_self_test(cwd: Path, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LAYERFORGE_RESOURCES"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "app", "--self-test"], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def status_of(stdout: str, check: str) -> str | None:
    match = re.search(rf"^\s+(ok|FAIL|skip)\s+{re.escape(check)}\s", stdout, re.M)
    return match.group(1) if match else None


def test_self_test_passes_and_prints_each_check(tmp_path: Path) -> None:
    result = run_self_test(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.splitlines()[0].startswith("LayerForge ") and "Python package" in out
    for check in CHECKS:
        assert status_of(out, check) == "ok", f"{check}:\n{out}"
    assert status_of(out, "onnx") in ("ok", "skip")
    assert re.search(rf"resources\s+{re.escape(str(ROOT / 'resources'))} \(6 templates", out)
    assert re.search(r"train\s+1 epoch on cpu: loss \d+\.\d+", out)
    assert "predictions on 64 inputs identical" in out
    assert out.splitlines()[-1].startswith("self-test passed: ")
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # it wrote nothing where it was started


def test_self_test_fails_and_says_where_it_looked_when_resources_are_missing(
        tmp_path: Path) -> None:
    empty = tmp_path / "no-resources"
    empty.mkdir()
    result = run_self_test(tmp_path, LAYERFORGE_RESOURCES=str(empty))
    assert result.returncode == 1, result.stdout + result.stderr  # 1, not a crash at exit
    out = result.stdout
    assert status_of(out, "resources") == "FAIL"
    assert re.search(rf"templates/spiral\.json is missing \(looked in: {re.escape(str(empty))}\)",
                     out)
    assert status_of(out, "template") == "FAIL"
    for check in ("train", "export", "reload"):
        assert status_of(out, check) == "skip"  # one cause, reported once
    assert "not run: needs the template check, which failed" in out
    assert out.splitlines()[-1].startswith("self-test FAILED: resources, qt, template")


def test_help_lists_the_self_test(capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    assert main(["--help"]) == 0
    assert "--self-test" in capsys.readouterr().out
