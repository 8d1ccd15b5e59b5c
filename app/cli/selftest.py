"""``layerforge --self-test``: prove that this installation works, end to end, in seconds.

What a support request would ask first, checked in order and printed one line each:

1. the shipped resources are found (templates, the Digits data, icons): the lookup that differs
   between a checkout, an installed wheel and the frozen build;
2. Qt starts (offscreen, so it runs on a machine without a display) and renders an SVG icon,
   which needs the image-format and icon-engine plugins a frozen build must bundle;
3. the main window opens, with the training dashboard (pyqtgraph) built in its tab;
4. the spiral template loads into the window without problems;
5. one epoch of training on the CPU runs (the same loop as ``layerforge train``);
6. the trained weights export to a temporary safetensors file;
7. ``engine.load`` reads them back and a freshly built model gives the same predictions;
8. the ONNX export checks out, and matches ONNX Runtime where that is installed (skipped when
   the ``onnx`` package is not installed: it is optional).

Exit status 0 only if every check that ran passed. Nothing of the user's is touched: settings,
autosaves and files go to a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

TEMPLATE = "spiral"
N_POINTS = 64  # inputs the two models are compared on

OK, FAIL, SKIP = "ok", "FAIL", "skip"


class Skip(Exception):
    """A check that cannot run here (an optional package is missing); not a failure."""


class SelfTest:
    """Runs the checks in order; each one may use what the ones before it left on ``self``."""

    def __init__(self, out: TextIO, workdir: Path) -> None:
        self.out = out
        self.workdir = workdir
        self.results: list[tuple[str, str, str]] = []
        self.app: Any = None
        self.window: Any = None
        self.host: Any = None  # the window's dashboard host (integration.DashboardHost)
        self.project: Any = None
        self.trained: Any = None
        self.exported: Path | None = None

    # ---------------------------------------------------------------- driver
    def run(self) -> int:
        started = time.perf_counter()
        self._say(_banner())
        for name, check in (("resources", self.check_resources), ("qt", self.check_qt),
                            ("main window", self.check_window),
                            ("template", self.check_template),
                            ("dashboard", self.check_dashboard), ("train", self.check_train),
                            ("export", self.check_export), ("reload", self.check_reload),
                            ("onnx", self.check_onnx)):
            self._one(name, check)
        self._close_window()
        failed = [name for name, status, _ in self.results if status == FAIL]
        skipped = sum(status == SKIP for _, status, _ in self.results)
        elapsed = time.perf_counter() - started
        if failed:
            self._say(f"self-test FAILED: {', '.join(failed)} ({len(failed)} of "
                      f"{len(self.results)} checks) in {elapsed:.1f} s")
            return 1
        self._say(f"self-test passed: {len(self.results) - skipped} checks, {skipped} skipped, "
                  f"in {elapsed:.1f} s")
        return 0

    def _one(self, name: str, check: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        try:
            status, detail = OK, check()
        except Skip as exc:
            status, detail = SKIP, str(exc)
        except Exception as exc:  # noqa: BLE001 - a self-test reports every failure and goes on
            status = FAIL
            detail = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            if os.environ.get("LAYERFORGE_SELFTEST_TRACEBACK"):
                detail += "\n" + traceback.format_exc()
        if status == OK:
            detail += f" [{time.perf_counter() - t0:.2f} s]"
        self.results.append((name, status, detail))
        self._say(f"  {status:<5} {name:<12} {detail}")

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def _need(self, value: Any, what: str) -> Any:
        """What an earlier check left; when it failed this check is skipped (the run has
        failed already, and one cause should not be reported seven times)."""
        if value is None:
            raise Skip(f"not run: needs the {what} check, which failed")
        return value

    # ---------------------------------------------------------------- checks
    def check_resources(self) -> str:
        from app.core.project import list_templates  # noqa: PLC0415
        from engine._resources import resource_path, resources_dir  # noqa: PLC0415

        resource_path("templates", f"{TEMPLATE}.json")  # missing: says where it looked
        templates = list_templates()
        if TEMPLATE not in templates:
            raise FileNotFoundError(f"list_templates() does not list {TEMPLATE!r} "
                                    f"(it lists {templates})")
        digits = resource_path("datasets", "digits.npz")
        resource_path("icons", "layerforge.svg")
        icons = sorted(resource_path("icons").glob("*.svg"))
        return (f"{resources_dir()} ({len(templates)} templates, {digits.name} "
                f"{digits.stat().st_size // 1024} kB, {len(icons)} icons)")

    def check_qt(self) -> str:
        import PySide6  # noqa: PLC0415
        from PySide6.QtGui import QGuiApplication  # noqa: PLC0415

        from app.gui.app import create_app  # noqa: PLC0415
        from app.gui.icons import app_icon  # noqa: PLC0415
        from engine._resources import resource_path  # noqa: PLC0415

        self.app = create_app([sys.argv[0] if sys.argv else "layerforge"])
        if not resource_path("icons", "layerforge.svg").is_file():  # raises, naming the places
            raise FileNotFoundError("the app icon is not a file")
        pixmap = app_icon().pixmap(64, 64)
        if pixmap.isNull():
            raise RuntimeError("the app icon (SVG) did not render: Qt's svg imageformats/"
                               "iconengines plugins are missing from this installation")
        image = pixmap.toImage()
        inked = sum(image.pixelColor(x, y).alpha() > 0 for x in range(0, 64, 4)
                    for y in range(0, 64, 4))
        if not inked:
            raise RuntimeError("the app icon (SVG) rendered empty: Qt's svg plugins are missing")
        return (f"PySide6 {PySide6.__version__}, platform "
                f"{QGuiApplication.platformName()!r}, SVG icon renders")

    def check_window(self) -> str:
        self._need(self.app, "qt")
        from app.gui.main_window import MainWindow  # noqa: PLC0415

        self.window = MainWindow(None, autosave=False)
        self.window.resize(1200, 800)
        self.window.show()
        self._process_events()
        if not self.window.isVisible():
            raise RuntimeError("the main window did not show")
        tabs = [self.window.tabs.tabText(i) for i in range(self.window.tabs.count())]
        return f"opened offscreen; tabs: {', '.join(tabs)}"

    def check_template(self) -> str:
        win = self._need(self.window, "main window")
        from app.core.project import Project  # noqa: PLC0415
        from engine.graph import errors  # noqa: PLC0415

        win.doc.set_project(Project.from_template(TEMPLATE))
        self._process_events()
        self.project = win.doc.project
        n_nodes, n_items = len(self.project.graph), len(win.scene.node_items)
        if n_nodes == 0 or n_items != n_nodes:
            raise RuntimeError(f"the canvas shows {n_items} nodes, the graph has {n_nodes}")
        problems = errors(self.project.validate())
        if problems:
            raise RuntimeError(f"the template has problems: {'; '.join(map(str, problems))}")
        params = sum(i.params for i in self.project.graph.infer().values())
        return f"{TEMPLATE}: {n_nodes} nodes on the canvas, {params:,} parameters, no problems"

    def check_dashboard(self) -> str:
        win = self._need(self.window, "main window")
        host = getattr(win, "training", None)
        if host is None:
            raise RuntimeError("the main window has no Training tab (the dashboard package is "
                               "missing from this installation)")
        how = "the window's"
        self.host = host
        dashboard = host.ensure()
        win.tabs.setCurrentIndex(host.tab_index)
        self._process_events()
        self._wait_dashboard_idle()  # its data preview loads on a background thread
        charts = type(dashboard.charts).__name__ if hasattr(dashboard, "charts") else "no charts"
        preview = getattr(getattr(dashboard, "data_panel", None), "preview", None)
        shown = f"; data preview: {preview.size} samples" if hasattr(preview, "size") else ""
        return f"{how} Training tab built ({type(dashboard).__name__}, {charts}{shown})"

    def check_train(self) -> str:
        project = self._need(self.project, "template")
        from app.core.runner import train  # noqa: PLC0415
        from app.core.settings import RunOverrides  # noqa: PLC0415

        from .presenter import format_metrics  # noqa: PLC0415

        result = train(project, RunOverrides(epochs=1, devices=["cpu"]),
                       out=self.workdir / "run", listed=False)
        if result.reason != "completed" or result.epochs_completed != 1:
            raise RuntimeError(f"training ended with {result.reason!r} after "
                               f"{result.epochs_completed} epochs: {result.message}")
        if result.weights is None or not result.weights.is_file():
            raise RuntimeError("training wrote no weights file")
        metrics = result.history[-1]
        if not math.isfinite(metrics["train_loss"]):
            raise RuntimeError(f"the loss is {metrics['train_loss']}")
        self.trained = result
        shown = format_metrics(metrics, digits=3)
        return f"1 epoch on cpu: {shown}"

    def check_export(self) -> str:
        project, result = self._need(self.project, "template"), self._need(self.trained, "train")
        from app.core.exporting import export_project  # noqa: PLC0415

        target = self.workdir / "exported.safetensors"
        written = export_project(project, "safetensors", target, weights=result.weights)
        if written != [target] or not target.is_file():
            raise RuntimeError(f"the export wrote {written}, expected {target}")
        self.exported = target
        return f"{target.name} ({target.stat().st_size:,} bytes) in a temporary folder"

    def check_reload(self) -> str:
        project = self._need(self.project, "template")
        exported, result = self._need(self.exported, "export"), self._need(self.trained, "train")
        import numpy as np  # noqa: PLC0415

        import engine  # noqa: PLC0415
        from engine.export import load_weights  # noqa: PLC0415
        from engine.graph import compile_graph  # noqa: PLC0415

        state = engine.load(exported)
        reloaded = compile_graph(project.graph, project.data_spec())
        reloaded.load_state_dict(state)
        trained = compile_graph(project.graph, project.data_spec())
        load_weights(trained, result.weights)
        initial = compile_graph(project.graph, project.data_spec(),
                                seed=project.training.get("seed"))
        x = self._inputs(trained)
        with engine.no_grad():
            outputs = [m.eval()(x).numpy() for m in (trained, reloaded, initial)]
        if not np.array_equal(outputs[0], outputs[1]):
            diff = float(np.abs(outputs[0] - outputs[1]).max())
            raise RuntimeError(f"the reloaded model's predictions differ (max {diff:.3g})")
        if np.array_equal(outputs[0], outputs[2]):
            raise RuntimeError("the trained weights equal the initial ones: training did "
                               "not update the model")
        return (f"engine.load read {len(state)} tensors; predictions on {N_POINTS} inputs "
                f"identical, and differ from the untrained model's")

    def check_onnx(self) -> str:
        project, result = self._need(self.project, "template"), self._need(self.trained, "train")
        try:
            import onnx  # noqa: PLC0415
        except ImportError:
            raise Skip("the onnx package is not installed (ONNX export is optional)") from None
        import numpy as np  # noqa: PLC0415

        import engine  # noqa: PLC0415
        from app.core.exporting import export_project  # noqa: PLC0415
        from engine.export import load_weights  # noqa: PLC0415
        from engine.graph import compile_graph  # noqa: PLC0415

        target = self.workdir / "model.onnx"
        export_project(project, "onnx", target, weights=result.weights)
        onnx.checker.check_model(onnx.load(str(target)))
        try:
            import onnxruntime  # noqa: PLC0415
        except ImportError:
            return f"{target.name} passes onnx.checker (onnxruntime not installed: not run)"
        model = compile_graph(project.graph, project.data_spec())
        load_weights(model, result.weights)
        x = self._inputs(model)
        with engine.no_grad():
            expected = model.eval()(x).numpy()
        session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        diff = float(np.abs(got - expected).max())
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
            raise RuntimeError(f"ONNX Runtime's output differs from the engine's (max {diff:.3g})")
        return f"{target.name} passes onnx.checker; ONNX Runtime matches (max diff {diff:.1e})"

    # ---------------------------------------------------------------- helpers
    def _inputs(self, model: Any) -> Any:
        import numpy as np  # noqa: PLC0415

        import engine  # noqa: PLC0415

        shape = tuple(model.input_types[0].shape)
        rng = np.random.default_rng(0)
        return engine.tensor(rng.standard_normal((N_POINTS, *shape)).astype(np.float32))

    def _process_events(self) -> None:
        if self.app is not None:
            for _ in range(3):
                self.app.processEvents()

    def _wait_dashboard_idle(self, timeout_ms: int = 20000) -> None:
        """Let the dashboard's background tasks (data preview) finish: a QThread still running
        when the process exits aborts it."""
        dashboard = getattr(self.host, "_dashboard", None)
        panel = getattr(dashboard, "data_panel", None)
        if panel is None or self.app is None:
            return
        timer = getattr(panel, "_preview_timer", None)  # the preview starts after a delay
        deadline = time.monotonic() + timeout_ms / 1000
        while time.monotonic() < deadline and (
                (timer is not None and timer.isActive())
                or (hasattr(panel, "busy") and panel.busy())):
            self.app.processEvents()
            time.sleep(0.02)

    def _close_window(self) -> None:
        win = self.window
        if win is None:
            return
        with contextlib.suppress(Exception):  # closing must not turn a pass into a crash
            if self.host is not None:
                self._wait_dashboard_idle()
            win.close_discarding()  # stops the window's run (self.host) first
            self._process_events()


def _banner() -> str:
    from engine import __version__  # noqa: PLC0415

    frozen = "frozen build" if getattr(sys, "frozen", False) else "Python package"
    return (f"LayerForge {__version__} self-test ({frozen}; Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()})")


@contextlib.contextmanager
def _isolated_environment(workdir: Path) -> Iterator[None]:
    """Offscreen Qt and throwaway settings/autosave places, restored afterwards."""
    wanted = {"QT_QPA_PLATFORM": "offscreen",
              "LAYERFORGE_SETTINGS": str(workdir / "settings.ini"),
              "LAYERFORGE_RECOVERY_DIR": str(workdir / "recovery")}
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_self_test(out: TextIO | None = None) -> int:
    """Run every check, printing one line each to ``out`` (stdout); returns the exit status."""
    out = out or sys.stdout
    with tempfile.TemporaryDirectory(prefix="layerforge-selftest-") as tmp, \
            _isolated_environment(Path(tmp)):
        return SelfTest(out, Path(tmp)).run()


