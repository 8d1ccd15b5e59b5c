"""Build the desktop bundle, run its self-test, print its size: one command for people and CI.

    python packaging/build.py                      one folder in dist/layerforge/
    python packaging/build.py --onefile            one file, dist/onefile/layerforge(.exe)
    python packaging/build.py --cuda               with CuPy (needs cupy-cuda12x installed)
    python packaging/build.py --dist D --work W    build somewhere else (the tests use a temp dir)
    python packaging/build.py --no-self-test       build only

The one-file build goes to its own folder because PyInstaller, asked to write the file
``dist/layerforge``, deletes a one-folder build ``dist/layerforge/`` without a word; with ``--dist``
pointing at a folder that holds the other kind of build, nothing is built (exit status 2).

Needs PyInstaller (``pip install -e ".[packaging]"``). Exit status: PyInstaller's, else the
self-test's. The last lines are machine-readable: ``bundle: PATH``, ``size_mb: N``,
``build_s: N``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "layerforge.spec"
NAME = "layerforge"
TARGET_MB = 250  # the CPU build's budget (issue 9)


def bundle_size(path: Path) -> int:
    """Bytes on disk of a file or of everything under a folder (links not followed)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def executable(dist: Path, onefile: bool) -> Path:
    exe = NAME + (".exe" if sys.platform == "win32" else "")
    return dist / exe if onefile else dist / NAME / exe


def build(dist: Path, work: Path, onefile: bool = False, cuda: bool = False,
          windowed: bool = False, quiet: bool = False) -> tuple[int, float]:
    """Run PyInstaller on the spec; returns (exit status, seconds)."""
    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--clean",
           "--distpath", str(dist), "--workpath", str(work)]
    if quiet:
        cmd += ["--log-level", "WARN"]
    extra = [flag for flag, on in (("--onefile", onefile), ("--cuda", cuda),
                                   ("--windowed", windowed)) if on]
    if extra:
        cmd += ["--", *extra]
    started = time.perf_counter()
    status = subprocess.call(cmd, cwd=ROOT)
    return status, time.perf_counter() - started


def self_test(exe: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The bundle's ``--self-test`` offscreen, from a folder outside the checkout (so nothing
    of the source tree can be picked up by accident)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LAYERFORGE_RESOURCES")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return subprocess.run([str(exe), "--self-test"], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=exe.parent.parent)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python packaging/build.py",
                                description=__doc__.splitlines()[0])
    p.add_argument("--dist", type=Path, help="where the bundle goes (default: dist/, "
                                             "dist/onefile/ with --onefile)")
    p.add_argument("--work", type=Path, default=ROOT / "build",
                   help="PyInstaller's work folder (default: build/)")
    p.add_argument("--onefile", action="store_true", help="one executable file")
    p.add_argument("--cuda", action="store_true", help="bundle CuPy for NVIDIA GPUs")
    p.add_argument("--windowed", action="store_true",
                   help="no console window (prints nothing: the self-test is not run)")
    p.add_argument("--no-self-test", action="store_true", help="build only")
    p.add_argument("--quiet", action="store_true", help="PyInstaller's warnings only")
    return p


def other_kind_in_the_way(dist: Path, onefile: bool) -> Path | None:
    """The bundle of the other kind that PyInstaller would delete to write this one, if any
    (on Windows the one file is ``layerforge.exe`` beside the folder: nothing is in the way)."""
    folder = dist / NAME
    if executable(dist, onefile=True) != folder:
        return None
    in_the_way = folder.is_dir() if onefile else folder.is_file()
    return folder if in_the_way else None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.dist is None:
        args.dist = ROOT / "dist" / ("onefile" if args.onefile else "")
    in_the_way = other_kind_in_the_way(args.dist, args.onefile)
    if in_the_way is not None:
        kind = "one-folder" if args.onefile else "one-file"
        print(f"{in_the_way} is a {kind} build, which this build would delete: pass another "
              "--dist, or remove it first", file=sys.stderr)
        return 2
    status, seconds = build(args.dist, args.work, args.onefile, args.cuda, args.windowed,
                            args.quiet)
    if status:
        print(f"PyInstaller failed (exit status {status})", file=sys.stderr)
        return status
    exe = executable(args.dist, args.onefile)
    bundle = exe if args.onefile else exe.parent
    if not args.no_self_test and not args.windowed:
        result = self_test(exe)
        print(result.stdout, end="")
        if result.returncode:
            print(result.stderr, end="", file=sys.stderr)
            status = result.returncode
    size_mb = bundle_size(bundle) / 2**20
    budget = "" if args.cuda else (f" (target < {TARGET_MB} MB: "
                                   f"{'met' if size_mb < TARGET_MB else 'MISSED'})")
    print(f"bundle: {bundle}\nsize_mb: {size_mb:.1f}{budget}\nbuild_s: {seconds:.0f}")
    return status


if __name__ == "__main__":
    sys.exit(main())
