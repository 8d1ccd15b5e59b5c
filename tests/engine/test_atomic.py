"""The one atomic writer (engine._atomic.atomic_write_bytes) that weights, checkpoints,
engine.save, ONNX, generated code and project files go through: leftovers of killed writers
are cleaned up, symbolic links stay links, new files follow the umask, and a full disk gives one
clear error and no partial file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import engine
from engine import _atomic
from engine._atomic import STALE_AFTER_S, atomic_write_bytes, remove_stale_temporaries
from engine.errors import FileWriteError
from engine.export import save_weights
from engine.training import save_checkpoint

ROOT = Path(__file__).resolve().parents[2]

# A writer that dies (SIGKILL, as kill -9 or the out-of-memory killer would) after writing
# half of the new content: what an interrupted save leaves on disk.
_KILLED_WRITER = """
import os, signal, sys
from engine import _atomic
def half_then_die(fd, data):
    os.write(fd, bytes(data)[: len(data) // 2])
    os.kill(os.getpid(), signal.SIGKILL)
_atomic._write_all = half_then_die
_atomic.atomic_write_bytes(sys.argv[1], b"x" * 100000)
"""


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "weights.safetensors"
    target.write_bytes(b"old")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seen = set()
    for _ in range(3):  # each killed write removes the one before: one leftover at most
        proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target)], env=env)
        assert proc.returncode == -9
        [leftover] = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert leftover.stat().st_size == 50000 and leftover.name not in seen
        seen.add(leftover.name)
    assert target.read_bytes() == b"old"  # the old file was never touched
    atomic_write_bytes(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.safetensors"]
    assert target.read_bytes() == b"new"


def test_only_leftovers_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "w.npz"
    old = time.time() - STALE_AFTER_S - 5
    names = {
        "dead": f".w.npz.{_dead_pid()}.0123abcd.tmp",      # its writer is gone
        "live": f".w.npz.{os.getppid()}.0123abcd.tmp",     # a live process is writing it
        "legacy_old": ".w.npz.k2j4_x9q.tmp",               # an older version's name, idle
        "legacy_new": ".w.npz.0a1b2c3d4e5f.tmp",           # the same, but written just now
        "live_idle": f".w.npz.{os.getppid()}.4567abcd.tmp",  # live pid, idle: pid reused
        "other": ".w.npz.x.12.0123abcd.tmp",               # a temporary of "w.npz.x"
        "unrelated": ".w.npz.notes.tmp",
    }
    for key, name in names.items():
        (tmp_path / name).write_bytes(b"partial")
        if key in ("legacy_old", "live_idle", "other", "unrelated"):
            os.utime(tmp_path / name, (old, old))
    removed = {p.name for p in remove_stale_temporaries(target)}
    assert removed == {names["dead"], names["legacy_old"], names["live_idle"]}
    assert {p.name for p in tmp_path.iterdir()} == {
        names[k] for k in ("live", "legacy_new", "other", "unrelated")}


def test_writing_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "store" / "weights.safetensors"
    real.parent.mkdir()
    save_weights({"a": engine.ones(2)}, real)
    link = tmp_path / "weights.safetensors"
    link.symlink_to(real)
    save_weights({"a": engine.zeros(3)}, link)
    assert link.is_symlink() and Path(os.readlink(link)) == real
    assert engine.load(real)["a"].shape == (3,)
    assert sorted(p.name for p in real.parent.iterdir()) == ["weights.safetensors"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(
        umask: int, tmp_path: Path) -> None:
    old = os.umask(umask)
    try:
        files = [save_weights({"a": engine.ones(2)}, tmp_path / "w.safetensors"),
                 save_weights({"a": engine.ones(2)}, tmp_path / "w.npz"),
                 save_checkpoint({"model": {}}, tmp_path / "last.safetensors"),
                 tmp_path / "e.safetensors"]
        engine.save({"a": engine.ones(1)}, files[-1])
        for f in files:
            assert (f.stat().st_mode & 0o777) == 0o666 & ~umask, f.name
        os.chmod(files[0], 0o600)
        save_weights({"a": engine.zeros(2)}, files[0])
        assert (files[0].stat().st_mode & 0o777) == 0o600
    finally:
        os.umask(old)


@pytest.mark.parametrize("step", ["write", "fsync", "rename"])
def test_a_full_disk_gives_one_clear_error_and_no_partial_file(
        step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "last.safetensors"
    save_checkpoint({"model": {"w": engine.ones(4)}}, target)
    before = target.read_bytes()

    def full(*args: object) -> None:
        if step == "write":
            os.write(args[0], b"\0" * 100)  # some bytes made it, then the disk filled up
        raise OSError(28, "No space left on device")

    target_fn = {"write": (_atomic, "_write_all"), "fsync": (os, "fsync"),
                 "rename": (os, "replace")}[step]
    monkeypatch.setattr(*target_fn, full)
    with pytest.raises(FileWriteError) as info:
        save_checkpoint({"model": {"w": engine.zeros(1000)}}, target)
    monkeypatch.undo()
    text = str(info.value)
    assert text.startswith(f"cannot write {target}: No space left on device (")
    assert "needed" in text and "free in" in text and "free some space" in text
    assert "\n" not in text and info.value.errno == 28 and isinstance(info.value, OSError)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]


def test_a_read_only_folder_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(FileWriteError, match=r"Permission denied; choose a folder you can "
                                             r"write to"):
        atomic_write_bytes(tmp_path / "x.onnx", b"data")
