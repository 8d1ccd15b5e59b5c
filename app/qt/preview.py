"""Every widget of the window, shown alone with sample data:
``python -m app.qt.preview NAME [--screenshot PNG] [--delay-ms N] [options]``
(``python -m app.qt.preview --list`` names them).

Why a harness apart from the widgets: a widget module stays production code only (no demo
block importing the application back, which made import cycles), and every preview is built the
same way, looked at the same way (a screenshot) and smoke-tested the same way.

``window`` starts the real application (``app.gui.app.start``) on a project and quits once its
first window has been painted, printing how long that took: the start-up benchmark and test use
it, so the application's own start path carries no test hook.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets


@dataclass(frozen=True)
class Preview:
    build: Callable[[argparse.Namespace], QtWidgets.QWidget]
    title: str
    size: tuple[int, int] = (900, 600)
    options: Callable[[argparse.ArgumentParser], None] | None = None
    delay_ms: int = 300


def application() -> QtWidgets.QApplication:
    """The running QApplication, or a new one with the app's theme."""
    from app.gui.app import create_app  # noqa: PLC0415

    return create_app(sys.argv[:1])


def run(name: str, argv: Sequence[str] | None = None) -> int:
    """Show preview ``name``; ``--screenshot PNG`` saves it and quits.

    The widget is closed and deleted before returning, while the application still exists (its
    ``closeEvent`` may stop a training thread).
    """
    preview = PREVIEWS[name]
    parser = argparse.ArgumentParser(prog=f"python -m app.qt.preview {name}",
                                     description=preview.title)
    parser.add_argument("--screenshot", help="save a PNG of the widget and quit")
    parser.add_argument("--delay-ms", type=int, default=preview.delay_ms,
                        help="wait this long before the screenshot")
    if preview.options is not None:
        preview.options(parser)
    args = parser.parse_args(list(argv or []))
    app = application()
    widget = preview.build(args)
    widget.setWindowTitle(f"LayerForge - {preview.title}")
    widget.resize(*preview.size)
    widget.show()
    shown = [widget]  # the screenshot reads it from here; emptied before returning
    # A local event loop rather than app.exec(): quitting the application would also end any
    # event loop started later in the same process (the tests run every preview in theirs).
    loop = QtCore.QEventLoop()
    app.lastWindowClosed.connect(loop.quit)
    if args.screenshot:
        def shoot() -> None:
            if shown:
                shown[0].grab().save(args.screenshot)
            loop.quit()

        QtCore.QTimer.singleShot(args.delay_ms, shoot)
    status = loop.exec()
    app.lastWindowClosed.disconnect(loop.quit)
    from .tasks import wait_all  # noqa: PLC0415

    widget.close()
    wait_all()  # background loads end before their QThread objects could be destroyed
    widget.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
    shown.clear()
    del widget
    gc.collect()
    return status


def time_first_window(project: str | None = None, argv: Sequence[str] | None = None) -> int:
    """Start the application as ``layerforge [PROJECT]`` does, quit right after its first
    window is painted, and print ``first window shown after X s`` on stderr."""
    started = time.perf_counter()
    from app.gui.app import start  # noqa: PLC0415

    app, _manager = start(project, list(argv or [sys.argv[0]]), offer_recovery=False)

    def done() -> None:
        print(f"first window shown after {time.perf_counter() - started:.3f} s",
              file=sys.stderr)
        app.quit()

    QtCore.QTimer.singleShot(0, done)
    return app.exec()


# -------------------------------------------------------------------- editor
def _doc(template: str) -> Any:
    from app.core.project import Project  # noqa: PLC0415
    from app.gui.document import GraphDocument  # noqa: PLC0415

    return GraphDocument(Project.from_template(template))


def _palette(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.gui.palette import PaletteWidget  # noqa: PLC0415

    return PaletteWidget()


def _inspector(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.gui.inspector import InspectorWidget  # noqa: PLC0415

    doc = _doc("lenet5")
    w = InspectorWidget(doc)
    w.set_node(next((n.name for n in doc.graph if n.type == "Conv2d"), None))
    return w


def _problems(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.gui.problems import ProblemsWidget  # noqa: PLC0415

    doc = _doc("lenet5")
    doc.delete([next(iter(doc.graph.nodes))])  # break it: something to show
    return ProblemsWidget(doc)


def _status(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.gui.status import StatusSummary  # noqa: PLC0415

    return StatusSummary(_doc("lenet5"))


def _quick_add(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.gui.quick_add import QuickAddPopup  # noqa: PLC0415

    popup = QuickAddPopup()
    popup.setWindowFlags(QtCore.Qt.WindowType.Window)  # a plain window when shown alone
    return popup


def _canvas(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.gui.canvas import GraphScene, GraphView  # noqa: PLC0415

    doc = _doc(args.template)
    view = GraphView(GraphScene(doc))
    view._keep_doc = doc  # type: ignore[attr-defined]
    QtCore.QTimer.singleShot(0, view.fit_all)
    return view


def _main_window(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.core.project import Project  # noqa: PLC0415
    from app.gui.main_window import MainWindow  # noqa: PLC0415

    win = MainWindow(Project.from_template(args.template), autosave=False)
    win.files.ask_save_changes = lambda: "discard"  # a preview has nothing to keep
    return win


def _template(default: str) -> Callable[[argparse.ArgumentParser], None]:
    return lambda ap: ap.add_argument("--template", default=default)


# -------------------------------------------------------------------- dashboard
def _scrolled(widget: QtWidgets.QWidget) -> QtWidgets.QWidget:
    scroll = QtWidgets.QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(widget)
    return scroll


def _settings(template: str) -> Any:
    from app.core.project import Project  # noqa: PLC0415
    from app.dashboard.settings import Settings  # noqa: PLC0415

    return Settings(Project.from_template(template))


def _charts(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.core.history import RunHistory, sample_history  # noqa: PLC0415
    from app.dashboard.charts import TrainingCharts  # noqa: PLC0415

    points = int(args.points)
    per_epoch = max(points // 30, 1)
    full = sample_history(points, per_epoch, seed=1, name="live")
    charts = TrainingCharts(RunHistory("live"))
    charts.set_expected(points, len(full.epochs))
    charts.add_overlay(sample_history(points, per_epoch, seed=2, name="earlier run"))
    state = {"i": 0, "e": 0}
    chunk = max(points // 300, 1)

    def feed() -> None:  # streams the sample run as the training thread would
        i = state["i"]
        if i >= points:
            return
        j = min(i + chunk, points)
        charts.history.append_steps(full.step.data[i:j], full.loss.data[i:j], full.lr.data[i:j])
        while state["e"] < len(full.epochs) and full.epochs[state["e"]]["step"] <= j:
            charts.history.add_epoch(full.epochs[state["e"]])
            state["e"] += 1
        state["i"] = j

    feeder = QtCore.QTimer(charts)
    feeder.timeout.connect(feed)
    feeder.start(10)
    return charts


def _diagnostics(args: argparse.Namespace) -> QtWidgets.QWidget:
    """The panel on the layers of a short real run of ``args.template`` (sampled every other
    batch), showing ``args.layer``."""
    from app.core.layer_history import LayerHistory  # noqa: PLC0415
    from app.core.project import Project  # noqa: PLC0415
    from app.core.runner import train  # noqa: PLC0415
    from app.core.settings import RunOverrides  # noqa: PLC0415
    from app.dashboard.diagnostics_panel import DiagnosticsPanel  # noqa: PLC0415

    history = LayerHistory()

    def keep(event: Any) -> None:
        if event.kind.value == "diagnostics":
            history.add(event.data["diagnostics"])
        elif event.kind.value == "warning":
            history.apply_warning(event.data["warning"])

    train(Project.from_template(args.template), RunOverrides(epochs=3),
          out=Path(tempfile.mkdtemp(prefix="layerforge-preview-")) / "run", listed=False,
          callbacks=[keep], diagnostics=2)
    panel = DiagnosticsPanel(history)
    panel.show_layer(args.layer)
    return panel


def _diagnostics_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--template", default="spiral")
    ap.add_argument("--layer", default="fc1")


def _lr_finder(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.dashboard.lr_finder_dialog import LRFinderDialog  # noqa: PLC0415

    dialog = LRFinderDialog(_settings(args.template))
    dialog.start()
    return dialog


def _training_panel(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.dashboard.training_panel import TrainingPanel  # noqa: PLC0415

    return _scrolled(TrainingPanel(_settings("mlp_digits")))


def _data_panel(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.dashboard.data_panel import DataPanel  # noqa: PLC0415

    return _scrolled(DataPanel(_settings(args.template)))


def _evaluation(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.core.predictions import sample_result  # noqa: PLC0415
    from app.dashboard.evaluation import EvaluationView  # noqa: PLC0415

    view = EvaluationView()
    view.set_result(sample_result())
    return view


def _progress(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.dashboard.progress import ProgressPanel  # noqa: PLC0415

    panel = ProgressPanel()
    state = {"step": 0}

    def tick() -> None:
        if panel.state in ("idle", "paused", "finished"):
            return
        state["step"] += 1
        s = state["step"]
        panel.show_progress({"epoch": s // 45 + 1, "epochs": 10, "batch": s % 45 + 1,
                             "batches": 45, "step": s, "samples_per_s": 5230.0,
                             "eta_s": (450 - s) * 0.012, "loss": 2.3 / (1 + s / 50),
                             "accuracy": min(0.99, s / 300)})
        if s >= 450:
            panel.show_finished("Finished 10 epochs", True)

    panel.sigStart.connect(lambda: (state.update(step=0), panel.set_state("running")))
    panel.sigPause.connect(lambda: panel.set_state("paused"))
    panel.sigResume.connect(lambda: panel.set_state("running"))
    panel.sigStop.connect(lambda: panel.show_finished("Stopped", False))
    timer = QtCore.QTimer(panel)
    timer.timeout.connect(tick)
    timer.start(12)
    panel.set_state("running")
    return panel


def sample_failures() -> dict[str, Any]:
    """One made-up ``Failure`` of each kind the dialog shows."""
    from app.core.failures import describe_failure  # noqa: PLC0415
    from engine.data import DatasetNotFoundError, WorkerError  # noqa: PLC0415

    train = {"optimizer": {"name": "SGD", "lr": 0.5}, "batch_size": 256}
    failures = [
        describe_failure(reason="nan", message="the loss became non-finite (nan) at epoch 3, "
                         "batch 17; training stopped", weights="runs/x/weights.safetensors",
                         settings=train),
        describe_failure(MemoryError("cannot allocate 3.1 GiB"), settings=train),
        describe_failure(DatasetNotFoundError("MNIST files not found in data/MNIST/raw: "
                                              "train-images-idx3-ubyte.gz, ...")),
        describe_failure(WorkerError("DataLoader worker 1 (pid 4242) exited unexpectedly "
                                     "with signal 9 (killed)")),
        describe_failure(RuntimeError("something unexpected"))]
    return {f.kind: f for f in failures}


def _failure(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.dashboard.failure_dialog import failure_dialog  # noqa: PLC0415

    return failure_dialog(sample_failures()[args.kind])


def _demo_project(template: str, epochs: int, runs: int = 0) -> Any:
    """A saved project in a temporary folder, with ``runs`` one-epoch runs trained through the
    real run path (what the runs list and the export dialog show)."""
    from app.core.project import Project  # noqa: PLC0415
    from app.core.runner import train  # noqa: PLC0415
    from app.core.settings import RunOverrides  # noqa: PLC0415

    folder = Path(tempfile.mkdtemp(prefix="layerforge-preview-"))
    project = Project.from_template(template)
    project.training["epochs"] = epochs
    project.save(folder / f"{template}.json")
    for seed in range(runs):
        train(project, RunOverrides(epochs=1, seed=seed), source="app")
    return project


def _runs(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.dashboard.runs import RunsPanel  # noqa: PLC0415

    return RunsPanel(_demo_project("spiral", 1, runs=2))


def _export(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.dashboard.export_dialog import ExportDialog  # noqa: PLC0415

    return ExportDialog(_demo_project("spiral", 1, runs=1))


def _dashboard(args: argparse.Namespace) -> QtWidgets.QWidget:
    from app.core.project import Project  # noqa: PLC0415
    from app.dashboard.dashboard import TrainingDashboard  # noqa: PLC0415

    project = Project.from_template(args.template)
    project.runs_dir = Path(tempfile.mkdtemp(prefix="layerforge-preview-runs-"))
    if args.epochs:
        project.training["epochs"] = args.epochs
    dash = TrainingDashboard(project)
    if args.train:
        QtCore.QTimer.singleShot(300, dash.start_training)
    return dash


def _dashboard_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--template", default="mlp_digits")
    ap.add_argument("--train", action="store_true", help="start training at once")
    ap.add_argument("--epochs", type=int, default=0)


PREVIEWS: dict[str, Preview] = {
    "palette": Preview(_palette, "layer palette", (260, 640)),
    "inspector": Preview(_inspector, "inspector", (340, 600)),
    "problems": Preview(_problems, "problems", (760, 220)),
    "status": Preview(_status, "status summary", (760, 40)),
    "quick_add": Preview(_quick_add, "quick add", (280, 340)),
    "canvas": Preview(_canvas, "canvas", (1000, 600), _template("resnet_cifar10")),
    "main_window": Preview(_main_window, "main window", (1366, 768), _template("lenet5")),
    "charts": Preview(_charts, "training charts (sample data)", (1000, 650),
                      lambda ap: ap.add_argument("--points", type=int, default=5000),
                      delay_ms=4000),
    "training_panel": Preview(_training_panel, "training settings", (420, 760)),
    "data_panel": Preview(_data_panel, "data", (460, 900), _template("spiral")),
    "evaluation": Preview(_evaluation, "evaluation (sample predictions)", (1000, 520)),
    "progress": Preview(_progress, "training progress", (700, 90)),
    "failure": Preview(_failure, "training failure", (560, 300),
                       lambda ap: ap.add_argument("--kind", default="nan", choices=(
                           "nan", "oom", "data", "worker", "crash"))),
    "runs": Preview(_runs, "runs", (800, 300)),
    "lr_finder": Preview(_lr_finder, "find learning rate", (640, 440), _template("spiral"),
                         delay_ms=3000),
    "diagnostics": Preview(_diagnostics, "layer diagnostics (a short real run)", (1100, 260),
                           _diagnostics_options),
    "export_dialog": Preview(_export, "export", (560, 220)),
    "dashboard": Preview(_dashboard, "training dashboard", (1400, 850), _dashboard_options,
                         delay_ms=6000),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "--list"):
        print("usage: python -m app.qt.preview NAME [--screenshot PNG] [options]\n"
              "       python -m app.qt.preview window [PROJECT]\n\npreviews: "
              + ", ".join(["window", *PREVIEWS]))
        return 0 if args else 2
    if args[0] == "window":
        return time_first_window(args[1] if len(args) > 1 else None)
    if args[0] not in PREVIEWS:
        print(f"no preview named {args[0]!r}; previews: {', '.join(['window', *PREVIEWS])}",
              file=sys.stderr)
        return 2
    return run(args[0], args[1:])


if __name__ == "__main__":
    sys.exit(main())
