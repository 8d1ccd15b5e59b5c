"""The "Find learning rate" dialog of the Training panel: the learning-rate range test
(``app.core.lr_find``) on a copy of the project's model, in the background, its loss plotted
live against the learning rate (log axis), the suggestion marked (the steepest descent of the
smoothed loss before its minimum; ``engine.training.lr_finder`` documents it), and **Apply**,
which sets the project's learning rate as one undoable edit.

``python -m app.qt.preview lr_finder`` shows it on the spiral template.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app.core.dataset_tools import Cancelled
from app.core.lr_find import find_lr
from app.qt.tasks import BackgroundTask, start_task
from engine.training.lr_finder import NUM_ITER

from .settings import Settings

COLORS = {"raw": "#1f77b4", "smoothed": "#0b4f8a", "suggestion": "#2ca02c",
          "minimum": "#d62728", "current": "#888888"}


def rounded(lr: float) -> float:
    """A learning rate as people write it: three significant digits."""
    return float(f"{lr:.3g}")


class LRFinderDialog(QtWidgets.QDialog):
    """Sweep the learning rate of ``settings``' project and offer to apply the suggestion.

    Signals:
        sigPoint(int, float, float): step, learning rate and loss of each step of the sweep
            (emitted on the sweep's thread; connected queued).
        sigApplied(float): the learning rate written into the project.
    """

    sigPoint = QtCore.Signal(int, float, float)
    sigApplied = QtCore.Signal(float)

    def __init__(self, settings: Settings, parent: QtWidgets.QWidget | None = None,
                 steps: int = NUM_ITER) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find learning rate")
        self.settings = settings
        self.steps = steps
        self.result: Any = None
        self.error: BaseException | None = None
        self.task: BackgroundTask | None = None
        self._lrs: list[float] = []
        self._losses: list[float] = []

        self.plot = pg.PlotWidget()
        pal = self.palette()
        self.plot.setBackground(pal.color(QtGui.QPalette.Base))
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate (log scale)")
        self.plot.setLabel("left", "loss")
        self.plot.addLegend(offset=(-10, 10))
        self.raw_curve = self.plot.plot([], [], pen=pg.mkPen(COLORS["raw"], width=1),
                                        symbol="o", symbolSize=3, symbolPen=None,
                                        symbolBrush=COLORS["raw"], name="loss")
        self.smooth_curve = self.plot.plot([], [], pen=pg.mkPen(COLORS["smoothed"], width=2),
                                           name="smoothed")
        self.markers: dict[str, pg.InfiniteLine] = {}
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        # the three lines are often close: their labels at different heights
        for key, label, at in (("current", "current", 0.95), ("minimum", "minimum", 0.82),
                               ("suggestion", "suggested", 0.69)):
            line = pg.InfiniteLine(angle=90, movable=False, label=label,
                                   labelOpts={"position": at, "color": COLORS[key],
                                              "anchors": [(0, 0.5), (0, 0.5)]},
                                   pen=pg.mkPen(COLORS[key], width=2 if key == "suggestion"
                                                else 1, style=QtCore.Qt.DashLine))
            line.setVisible(False)
            self.plot.addItem(line, ignoreBounds=True)
            self.markers[key] = line
        self.status = QtWidgets.QLabel("Sweeping the learning rate on a copy of the model…")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, steps)
        self.apply_button = QtWidgets.QPushButton("Apply")
        self.apply_button.setEnabled(False)
        self.close_button = QtWidgets.QPushButton("Close")
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.close_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(640, 440)

        self.sigPoint.connect(self._on_point, QtCore.Qt.QueuedConnection)
        self.apply_button.clicked.connect(self.apply)
        self.close_button.clicked.connect(self.close)
        self._show_current()

    # ------------------------------------------------------------------ the sweep
    def start(self) -> None:
        """Run the sweep in the background (on the project as it is now)."""
        project = self.settings.project.copy()
        steps = self.steps

        def sweep(ctx: Any) -> Any:
            def report(step: int, lr: float, loss: float) -> None:
                ctx.progress(step, steps)  # raises Cancelled once the dialog is closed
                self.sigPoint.emit(step, lr, loss)
            return find_lr(project, steps=steps, report=report)

        self.task = start_task(sweep, self._on_done, self._on_failed)

    def _on_point(self, step: int, lr: float, loss: float) -> None:
        self._lrs.append(lr)
        self._losses.append(loss)
        self.progress.setValue(step)
        finite = [v if math.isfinite(v) else np.nan for v in self._losses]
        self.raw_curve.setData(self._lrs, finite, connect="finite")
        self._fit_y(finite)

    def _fit_y(self, losses: list[float]) -> None:
        """The loss axis from the lowest loss to a little above the first: the blow-up at
        the end of the sweep goes off the top instead of flattening the part that matters."""
        values = np.asarray(losses, dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values):
            low, first = float(values.min()), float(values[0])
            high = max(first * 1.25, low + 1e-6)
            self.plot.setYRange(low - 0.05 * (high - low), high, padding=0)

    def _on_done(self, result: Any) -> None:
        self.task = None
        self.result = result
        self.progress.setValue(self.progress.maximum())
        self.raw_curve.setData(result.lrs, [v if math.isfinite(v) else np.nan
                                            for v in result.losses], connect="finite")
        self.smooth_curve.setData(result.lrs, result.smoothed, connect="finite")
        self._fit_y(result.smoothed)
        if result.min_lr is not None:
            self.markers["minimum"].setValue(math.log10(result.min_lr))
            self.markers["minimum"].setVisible(True)
        ended = {"diverged": " The loss diverged at the end, as it should.",
                 "nan": " The loss became NaN at the end."}.get(result.reason, "")
        if result.suggestion is None:
            self.status.setText("No suggestion: the loss did not fall during the sweep (try "
                                "more epochs of data, or another optimizer)." + ended)
            return
        self.markers["suggestion"].setValue(math.log10(result.suggestion))
        self.markers["suggestion"].setVisible(True)
        value = rounded(result.suggestion)
        self.apply_button.setText(f"Apply {value:g}")
        self.apply_button.setEnabled(True)
        self.status.setText(
            f"Suggested learning rate: <b>{value:g}</b>, where the smoothed loss falls fastest "
            f"before its minimum (at {result.min_lr:.3g}); the project's is "
            f"{self._current():g}.{ended}")

    def _on_failed(self, exc: BaseException) -> None:
        self.task = None
        self.error = exc
        if isinstance(exc, Cancelled):
            return
        self.status.setText(f"<b>The sweep could not run</b>: {exc}")

    # ------------------------------------------------------------------ the project
    def _current(self) -> float:
        return float(self.settings.get(("training", "optimizer", "lr"), 0.0))

    def _show_current(self) -> None:
        lr = self._current()
        if lr > 0:
            self.markers["current"].setValue(math.log10(lr))
            self.markers["current"].setVisible(True)

    def apply(self) -> None:
        """Set the project's learning rate to the suggestion (one undoable edit)."""
        if self.result is None or self.result.suggestion is None:
            return
        value = rounded(self.result.suggestion)
        opt = self.settings.get(("training", "optimizer"))
        opt["lr"] = value
        self.settings.set(("training", "optimizer"), opt,
                          f"Set learning rate to {value:g} (learning-rate finder)")
        self._show_current()
        self.sigApplied.emit(value)
        self.close()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.task is not None:
            self.task.cancel()  # stops after the current step; the project is untouched
        super().closeEvent(event)
