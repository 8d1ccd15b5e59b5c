"""Shared test setup: headless Qt, the repository on ``sys.path``, a ``device`` fixture that runs
every device test on the CPU and, where CuPy finds a GPU, on ``cuda:0``, a fixed seed per test so
failures reproduce, and a run that leaves nothing behind: everything the tests and their child
processes write goes to one session folder, removed at the end, and a test that leaves a file in
the temp dir fails (see ``pytest_configure``)."""

from __future__ import annotations

import importlib.util
import multiprocessing.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

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


_SESSION_FOLDER = pytest.StashKey[Path]()
_SAVED_ENVIRON = pytest.StashKey[dict[str, str | None]]()
_LEFT_IN_TEMP_DIR = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Point every place the app and its libraries write to at one session folder, before any
    test module is imported (imports count) and for every child process (they inherit the
    environment): the app's data folder (runs of unsaved projects, locks), its settings and
    autosaves, third-party caches, and the temp dir itself. The temp dir is the session's
    ``tmp/``, which must stay empty: each test is checked (``_nothing_left_in_the_temp_dir``)
    and so is the whole run (``pytest_sessionfinish``), so a test that writes to the temp dir
    and does not clean up fails instead of littering the machine's. pytest's own ``tmp_path``
    folders stay where pytest keeps them (``PYTEST_DEBUG_TEMPROOT``), so they can be read after
    a failure."""
    # multiprocessing's folder for this process (the forkserver's socket) lives until exit,
    # when multiprocessing removes it: made now, it stays in the machine's temp dir
    multiprocessing.util.get_temp_dir()
    root = Path(tempfile.mkdtemp(prefix="layerforge-tests-")).resolve()
    (root / "tmp").mkdir()
    environ = {
        "PYTEST_DEBUG_TEMPROOT": os.environ.get("PYTEST_DEBUG_TEMPROOT") or tempfile.gettempdir(),
        "TMPDIR": str(root / "tmp"),
        "LAYERFORGE_DATA_DIR": str(root / "data"),
        "LAYERFORGE_SETTINGS": str(root / "settings.ini"),  # QSettings: ~/.config otherwise
        "LAYERFORGE_RECOVERY_DIR": str(root / "recovery"),
        "XDG_CACHE_HOME": str(root / "cache"),  # onnxruntime keeps a device id there
        "TORCHINDUCTOR_CACHE_DIR": str(root / "cache" / "torchinductor"),  # torch.optim: TMPDIR
        "ORT_DISABLE_TELEMETRY": "1",  # importing onnxruntime writes $TMPDIR/.ses otherwise
    }
    config.stash[_SESSION_FOLDER] = root
    config.stash[_SAVED_ENVIRON] = {k: os.environ.get(k) for k in [*environ, "HWLOC_XMLFILE"]}
    os.environ.update(environ)
    tempfile.tempdir = environ["TMPDIR"]
    _pin_hwloc_topology(root)


def _pin_hwloc_topology(root: Path) -> None:
    """MPICH's process manager writes the machine's topology to
    ``/tmp/hydra_hwloc_xmlfile_*`` for each job (always /tmp: it does not read TMPDIR) and
    deletes it when the job ends, but not when a rank aborts, which the failing-rank tests
    make one do. Given ``HWLOC_XMLFILE`` it hands that file to the ranks instead of writing
    one, so a copy is taken once, from a job that ends normally: the rank finds the file among
    the open files of its parent, the proxy."""
    if (sys.platform != "linux" or os.environ.get("HWLOC_XMLFILE") or not shutil.which("mpiexec")
            or importlib.util.find_spec("mpi4py") is None):
        return
    target = root / "hwloc-topology.xml"
    probe = ("import os, shutil, sys\n"
             "from mpi4py import MPI  # MPI_Init asks the proxy for the topology file\n"
             "fds = f'/proc/{os.getppid()}/fd'\n"
             "for fd in os.listdir(fds):\n"
             "    try:\n"
             "        path = os.readlink(os.path.join(fds, fd))\n"
             "    except OSError:  # closed meanwhile\n"
             "        continue\n"
             "    if os.path.basename(path).startswith('hydra_hwloc_xmlfile_'):\n"
             "        shutil.copyfile(path, sys.argv[1])\n")
    try:
        subprocess.run(["mpiexec", "-n", "1", sys.executable, "-c", probe, str(target)],
                       capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return
    if target.is_file():
        os.environ["HWLOC_XMLFILE"] = str(target)


def _temp_dir_entries(config: pytest.Config) -> set[str]:
    return set(os.listdir(config.stash[_SESSION_FOLDER] / "tmp"))


@pytest.fixture(autouse=True)
def _nothing_left_in_the_temp_dir(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves something in the temp dir (use ``tmp_path``, or clean up)."""
    before = _temp_dir_entries(request.config)
    yield
    left = sorted(_temp_dir_entries(request.config) - before)
    if left:
        pytest.fail(f"left in the temp dir ({os.environ['TMPDIR']}): {', '.join(left)}",
                    pytrace=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """What no single test left (an import, a session fixture, a child process that outlived
    its test) fails the run too, named in the terminal summary."""
    left = sorted(_temp_dir_entries(session.config))
    if left:
        session.config.stash[_LEFT_IN_TEMP_DIR] = left
        if session.exitstatus == pytest.ExitCode.OK:  # an interrupted run stays interrupted
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    left = config.stash.get(_LEFT_IN_TEMP_DIR, [])
    if left:
        terminalreporter.section("left in the temp dir", red=True)
        terminalreporter.write_line("the run fails: the tests left " + ", ".join(left))


def pytest_unconfigure(config: pytest.Config) -> None:
    for key, value in config.stash[_SAVED_ENVIRON].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    tempfile.tempdir = None
    shutil.rmtree(config.stash[_SESSION_FOLDER], ignore_errors=True)


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same random state, on the engine and on NumPy's global one."""
    engine.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def packaging_build() -> ModuleType:
    """``packaging/build.py`` as a module, loaded by path: ``build`` is also the name of PyPA's
    build package."""
    spec = importlib.util.spec_from_file_location("layerforge_packaging_build",
                                                  _ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture
def make_window(qtbot):  # noqa: ANN001, ANN201
    """``make_window(project=None | Project | template name, size=(1200, 800), **kw)`` -> a
    shown MainWindow (``kw`` go to ``MainWindow``), closed without questions afterwards (its
    run stopped, its unsaved edits dropped)."""
    from app.core.project import Project
    from app.gui.main_window import MainWindow

    windows = []

    def make(project=None, size=(1200, 800), **kw):  # noqa: ANN001, ANN202
        if isinstance(project, str):
            project = Project.from_template(project)
        win = MainWindow(project, **kw)
        win.resize(*size)
        win.show()
        qtbot.waitExposed(win)
        windows.append(win)
        return win

    yield make
    for win in windows:
        if win.files.last_error is not None:
            win.files.last_error.close()
        win.close_discarding()
        win.deleteLater()


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
